"""Fixtures for DAG runs: an initialised Airflow metadata database in the test run's Airflow home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """`airflow db migrate` once per test run (SQLite in the private AIRFLOW_HOME set by tests/conftest.py)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=dict(os.environ))
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


@pytest.fixture(scope="session")
def daily_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from common.paths import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "crm_credit_risk_daily.py"))
    assert bag.import_errors == {}
    return bag.get_dag("crm_credit_risk_daily")


@pytest.fixture(scope="session")
def training_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from common.paths import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "credit_model_training.py"))
    assert bag.import_errors == {}
    return bag.get_dag("credit_model_training")
