"""A small simulated book, bootstrapped and rated once, in databases of its own (shared by a module)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.scratch import create_database, drop_database
from tests.helpers.databases import PipelineDatabases

HISTORY_START = dt.date(2024, 1, 1)  # long enough for the training warm-up plus a 12-month horizon
AS_OF = dt.date(2026, 10, 31)  # the day the clean daily run rates
NEXT_DAY = AS_OF + dt.timedelta(days=1)  # the sources already hold it; extracted by some tests
CUSTOMERS = 250


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


@dataclass
class Book:
    """The databases of a bootstrapped, rated book and the as-of date its daily run rated."""

    dbs: PipelineDatabases
    as_of: dt.date
    run_id: str


@contextlib.contextmanager
def rated_book(
    admin_url: str, tmp: Path, customers: int = CUSTOMERS, seed: int = 17, sources_end: dt.date = NEXT_DAY,
    runtime_login: bool = False,
) -> Iterator[Book]:
    """Simulate the sources up to the day after AS_OF (or `sources_end`), bootstrap history before
    AS_OF, then run the daily tasks for AS_OF (extract both sources, dbt snapshot, first champion from
    the training path, score and publish). runtime_login: migrate with the admin URL, then run
    everything else as the pipeline's run-time login (crm_pipeline acting as pipeline_writer)."""
    prefix = f"t_{uuid.uuid4().hex[:10]}"
    names = {role: f"{prefix}_{role}" for role in ("warehouse", "crm_source", "finance_source")}
    with pytest.MonkeyPatch.context() as mp:
        urls = {role: create_database(admin_url, name) for role, name in names.items()}
        try:
            mp.delenv("WAREHOUSE_URL", raising=False)
            for role, url in urls.items():
                mp.setenv(f"AIRFLOW_CONN_{role.upper()}", url.replace("postgresql+psycopg2://", "postgresql://"))
            mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
            mp.setenv("MLFLOW_ARTIFACT_ROOT", str(tmp / "mlartifacts"))
            from devtools.simulator import simulate
            from pipeline import daily
            from pipeline.bootstrap import load_history

            simulate(customers, HISTORY_START, sources_end, seed=seed, verbose=False)
            if runtime_login:
                from common.migrate import migrate

                migrate(urls["warehouse"])
                mp.setenv("AIRFLOW_CONN_WAREHOUSE", runtime_url(urls["warehouse"]))
            load_history(AS_OF, verbose=False)
            run_id = "clean_run"
            for source in ("crm", "finance"):
                daily.extract(source, midnight(AS_OF), midnight(NEXT_DAY), run_id)
            daily.build_features(AS_OF, run_id)
            from ml.train import train_and_register  # what credit_model_training runs

            train_and_register(as_of_date=AS_OF)
            daily.check_champion(AS_OF, run_id)
            daily.score(AS_OF, run_id)
            yield Book(PipelineDatabases(**urls), AS_OF, run_id)
        finally:
            for name in names.values():
                drop_database(admin_url, name)


def child_env() -> dict[str, str]:
    """The environment a task process would get: the same connections, state folder and MLflow store."""
    return dict(os.environ)


def runtime_url(admin_warehouse_url: str) -> str:
    """The warehouse as the pipeline's run-time login: crm_pipeline, acting as pipeline_writer."""
    import sqlalchemy as sa

    url = sa.make_url(admin_warehouse_url).set(
        drivername="postgresql", username="crm_pipeline", password=None, query={"options": "-c role=pipeline_writer"}
    )
    return url.render_as_string(hide_password=False)
