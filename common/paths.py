"""Where the repository and the local state folder live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
MIGRATIONS_DIR = REPO_ROOT / "warehouse" / "migrations"


def state_dir() -> Path:
    """The local state folder (embedded warehouse, Airflow home, MLflow store, data docs)."""
    path = Path(os.environ.get("CRM_RISK_STATE_DIR", REPO_ROOT / ".state")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
