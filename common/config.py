"""The one config loader: versioned YAML files under config/."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

from common.paths import CONFIG_DIR


def config_dir() -> Path:
    """Config folder; CRM_RISK_CONFIG_DIR overrides it (tests, other deployments)."""
    return Path(os.environ.get("CRM_RISK_CONFIG_DIR", CONFIG_DIR))


@functools.cache
def _load(path: str, mtime: float) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping at top level")
    return data


def load_config(name: str) -> dict[str, Any]:
    """Return config/<name>.yml as a dict (cached until the file changes)."""
    path = config_dir() / f"{name}.yml"
    if not path.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    return _load(str(path), path.stat().st_mtime)
