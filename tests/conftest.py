"""Shared fixtures: a real PostgreSQL per test run, fresh databases per test, temp state folders."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.paths import REPO_ROOT
from devtools.scratch import create_database, drop_database, server_url
from tests.helpers.databases import PipelineDatabases

# Airflow reads its settings at import time: give the test run its own home before anything imports it.
if os.environ.get("TEST_AIRFLOW_HOME"):
    _AIRFLOW_HOME = Path(os.environ["TEST_AIRFLOW_HOME"])
else:
    import tempfile

    _AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.update(
    AIRFLOW_HOME=str(_AIRFLOW_HOME),
    AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__PARALLELISM="4",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    CRM_RISK_DEADLINE_ALERTS="off",  # DAG runs here use Dag.test (see pipeline.operations.DEADLINE_SWITCH)
)
# Tests run on simulated data: development mode (the development pseudonym key, with a logged warning)
# unless the caller set the variable; tests of the refusal outside it unset it themselves.
os.environ.setdefault("CRM_RISK_DEVELOPMENT", "1")


@pytest.fixture(scope="session")
def admin_url() -> str:
    """A server to create test databases on: TEST_WAREHOUSE_URL, else 127.0.0.1:5432, else embedded."""
    return server_url()


@pytest.fixture(scope="session", autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep tests away from the developer's .state folder and MLflow store."""
    state = tmp_path_factory.mktemp("state")
    saved = {k: os.environ.get(k) for k in ("CRM_RISK_STATE_DIR", "MLFLOW_TRACKING_URI")}
    os.environ["CRM_RISK_STATE_DIR"] = str(state)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield state
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def pipeline_dbs(admin_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PipelineDatabases]:
    """Fresh warehouse + crm_source + finance_source databases, wired into the connection env vars."""
    prefix = f"t_{uuid.uuid4().hex[:10]}"
    names = {role: f"{prefix}_{role}" for role in ("warehouse", "crm_source", "finance_source")}
    urls = {role: create_database(admin_url, name) for role, name in names.items()}
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    for role, url in urls.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{role.upper()}", url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        yield PipelineDatabases(**urls)
    finally:
        for name in names.values():
            drop_database(admin_url, name)


@pytest.fixture
def warehouse_url(pipeline_dbs: PipelineDatabases) -> str:
    """A fresh, migrated warehouse database."""
    from common.migrate import migrate

    migrate(pipeline_dbs.warehouse)
    return pipeline_dbs.warehouse


@pytest.fixture
def bi_views(warehouse_url: str) -> str:
    """The migrated warehouse with the BI views built by dbt (dbt_project/models/bi)."""
    from common.transform import build_bi_views

    build_bi_views(warehouse_url)
    return warehouse_url


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real MLflow store for one test: SQLite plus a local artifact folder in a temp dir."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", str(tmp_path / "mlartifacts"))
    return uri
