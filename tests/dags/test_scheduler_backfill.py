"""A backfill through the real scheduler leaves exactly the rows that dag.test per date leaves, in any order.

One small book is simulated, bootstrapped and given a champion once; the warehouse is then copied
(PostgreSQL template) so that every variant starts from the same state and scores with the same model:

(a) `airflow backfill create` forward, executed by scheduler + dag-processor + api-server (LocalExecutor,
    PostgreSQL metadata database);
(b) `dag.test` for each date, in date order;
(c) on top of (a): `airflow backfill create --run-backwards --reprocess-behavior completed`;
(d) the same forward backfill with the CeleryExecutor, as docker-compose runs it: the Redis on the
    machine as broker (a queue of the run's own), the PostgreSQL metadata database as result backend,
    and two Celery workers that both take tasks.

All four must leave identical raw batches, marts, ratings, warning episodes and monitoring (ignoring
load timestamps, run ids and the identity `warning_id`).
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest
import sqlalchemy as sa

from common.config import load_config
from common.paths import REPO_ROOT
from common.warehouse import libpq_dsn
from tests.helpers.sql import fetch

HISTORY_START = date(2023, 11, 1)  # 12 months of warm-up before the labelled snapshots
FIRST, LAST = date(2026, 10, 29), date(2026, 10, 31)
DATES = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
CUSTOMERS = 300
# The machine's Redis (the CeleryExecutor's broker in docker-compose too); TEST_REDIS_URL overrides it.
REDIS_BROKER = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Columns that record when or by which run a row was written, not what it says.
VOLATILE = {"_extracted_at", "rejected_at", "loaded_at", "scored_at", "computed_at", "run_id", "published_at"}
PER_TABLE_VOLATILE = {"ratings.credit_warnings": {"warning_id"}}  # identity: numbered in publish order
COMPARED_SCHEMAS = ("raw_crm", "raw_finance", "quarantine", "marts", "snapshots", "ratings")
COMPARED_TABLES = ("audit.batch_counts", "ratings.customer_ratings")  # a view over the versions


def _exec(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(libpq_dsn(url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def _copy_database(admin_url: str, template: str, name: str) -> str:
    """`create database NAME template TEMPLATE` (nobody may be connected to the template meanwhile)."""
    _exec(admin_url, "select pg_terminate_backend(pid) from pg_stat_activity "
                     "where datname = %s and pid <> pg_backend_pid()", (template,))
    _exec(admin_url, f'create database "{name}" template "{template}"')
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _tables(url: str) -> list[str]:
    rows = _exec(url, "select table_schema || '.' || table_name from information_schema.tables "
                      "where table_type = 'BASE TABLE' and table_schema = any(%s) order by 1",
                 (list(COMPARED_SCHEMAS),))
    return [r[0] for r in rows] + list(COMPARED_TABLES)


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of the sorted rows of every compared table, volatile columns left out."""
    result = {}
    for table in _tables(url):
        schema, name = table.split(".")
        skip = VOLATILE | PER_TABLE_VOLATILE.get(table, set())
        columns = [c for (c,) in _exec(
            url, "select column_name from information_schema.columns where table_schema = %s "
                 "and table_name = %s order by ordinal_position", (schema, name)) if c not in skip]
        row = ", ".join(f'"{c}"' for c in columns)
        count, digest = _exec(url, f"select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), '')) "
                                   f"from (select row({row})::text as r from {table}) s")[0]
        result[table] = (count, digest)
    return result


def runbook_queries(page: str) -> list[str]:
    """Every SQL statement in the ```sql blocks of a runbook page."""
    text = (REPO_ROOT / "docs" / "runbooks" / page).read_text()
    statements = [s.strip() for block in re.findall(r"```sql\n(.*?)```", text, re.S) for s in block.split(";")]
    return [s for s in statements if any(line and not line.startswith("--") for line in s.splitlines())]


def _run_as(url: str, statements: list[str], role: str | None = None) -> list[list[tuple]]:
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        with conn.cursor() as cur:
            if role:
                cur.execute(f"set role {role}")
            results = []
            for statement in statements:
                cur.execute(statement)
                results.append(cur.fetchall())
        return results
    finally:
        conn.rollback()
        conn.close()


def _differences(left: dict, right: dict) -> dict[str, tuple]:
    return {t: (left.get(t), right.get(t)) for t in sorted(set(left) | set(right)) if left.get(t) != right.get(t)}


def _published_versions(url: str) -> set[str]:
    return {r[0] for r in _exec(url, "select distinct model_version from ratings.customer_ratings")}


def _assert_one_at_a_time(runs: list[dict], expected_order: list[date]) -> None:
    assert [r["state"] for r in runs] == ["success"] * len(expected_order), runs
    assert [r["logical_date"].date() for r in runs] == expected_order, runs
    for before, after in zip(runs, runs[1:], strict=False):
        assert after["start_date"] >= before["end_date"], f"runs overlapped: {before} / {after}"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_scheduler_backfill_forward_backward_and_dag_test_leave_identical_rows(
        pipeline_dbs, mlflow_uri, admin_url, daily_dag, tmp_path, monkeypatch):
    from devtools.scheduler import Celery, running, scheduler_env
    from devtools.simulator import simulate
    from ml.registry import champion_exists
    from ml.train import train_and_register
    from pipeline.bootstrap import load_history

    # Bootstrap once: sources up to LAST, history before FIRST, a champion that every variant shares.
    simulate(CUSTOMERS, HISTORY_START, LAST, seed=11, verbose=False)
    load_history(FIRST, verbose=False)
    trained = train_and_register(as_of_date=FIRST)
    assert champion_exists(), trained["gate"]
    champion = str(trained["version"])

    template = sa.make_url(pipeline_dbs.warehouse).database
    prefix = f"t_{uuid.uuid4().hex[:10]}"
    names = {v: f"{prefix}_{v}" for v in ("scheduler", "dagtest", "celery", "airflow", "airflow_celery")}
    try:
        scheduler_wh = _copy_database(admin_url, template, names["scheduler"])
        dagtest_wh = _copy_database(admin_url, template, names["dagtest"])
        celery_wh = _copy_database(admin_url, template, names["celery"])
        _exec(admin_url, f'create database "{names["airflow"]}"')
        _exec(admin_url, f'create database "{names["airflow_celery"]}"')
        metadata_url = sa.make_url(admin_url).set(database=names["airflow"]).render_as_string(hide_password=False)

        # (a) forward, then (c) backwards over the same dates, both executed by the scheduler
        env = scheduler_env(tmp_path / "airflow", metadata_url=metadata_url)
        env["AIRFLOW_CONN_WAREHOUSE"] = scheduler_wh.replace("postgresql+psycopg2://", "postgresql://")
        with running(env) as local:
            local.backfill(FIRST, LAST)
            _assert_one_at_a_time(local.wait_for_backfill(timeout=420), DATES)
            forward = fingerprint(scheduler_wh)
            local.backfill(FIRST, LAST, run_backwards=True, reprocess_behavior="completed")
            _assert_one_at_a_time(local.wait_for_backfill(timeout=420), DATES[::-1])
            backward = fingerprint(scheduler_wh)

        # (d) forward again, on its own copy, tasks executed by two Celery workers
        celery_metadata = sa.make_url(metadata_url).set(database=names["airflow_celery"])
        celery = Celery(
            broker_url=REDIS_BROKER,
            result_backend="db+" + celery_metadata.set(drivername="postgresql").render_as_string(hide_password=False),
            queue=f"credit_risk_{prefix}",
        )
        env = scheduler_env(tmp_path / "airflow-celery",
                            metadata_url=celery_metadata.render_as_string(hide_password=False), celery=celery)
        env["AIRFLOW_CONN_WAREHOUSE"] = celery_wh.replace("postgresql+psycopg2://", "postgresql://")
        with running(env, workers=2) as local:
            local.backfill(FIRST, LAST)
            _assert_one_at_a_time(local.wait_for_backfill(timeout=600), DATES)
            executed = {name: (local.log_dir / f"{name}.log").read_text().count("Executing workload in Celery")
                        for name in ("worker1", "worker2")}
        on_celery = fingerprint(celery_wh)
        assert all(executed.values()), f"both workers should have run tasks: {executed}"
        assert sum(executed.values()) >= len(DATES) * 10, executed
        # scoring was split: one mapped score_partition per partition of config/model.yml, for every date
        partitions = load_config("model")["scoring"]["partitions"]
        mapped = fetch(celery_metadata.set(drivername="postgresql").render_as_string(hide_password=False),
                       "select count(*), count(distinct map_index) from task_instance"
                       " where task_id = 'score_partition' and state = 'success'")[0]
        assert partitions > 1 and mapped == (len(DATES) * partitions, partitions), mapped

        # (b) dag.test per date, in date order, on its own copy
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", dagtest_wh.replace("postgresql+psycopg2://", "postgresql://"))
        for day in DATES:
            run_after = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
            assert daily_dag.test(logical_date=run_after).state == "success", day
        dag_test = fingerprint(dagtest_wh)

        assert forward["ratings.customer_ratings"][0] > 3 * 200, "too few ratings to compare"
        rated = {r[0] for r in _exec(scheduler_wh, "select as_of_date from ratings.model_monitoring")}
        assert rated == set(DATES)
        assert _differences(forward, dag_test) == {}
        assert _differences(backward, forward) == {}
        assert _differences(on_celery, dag_test) == {}
        # The runbooks' queries run on a backfilled warehouse, the BI ones with bi_reader's rights only.
        audit = _run_as(scheduler_wh, runbook_queries("data-engineer.md"))
        latest = audit[1]
        assert {(r[0], r[2]) for r in latest} == {(d, "success") for d in DATES}, latest
        bi = _run_as(scheduler_wh, runbook_queries("bi-analyst.md"), role="bi_reader")
        assert [r[0] for r in bi[0]] == DATES[::-1] and all(bi[1]), bi[:2]
        # Nobody retrained: every rating comes from the champion of the bootstrap.
        assert _published_versions(scheduler_wh) == _published_versions(dagtest_wh) == {champion}
    finally:
        for name in names.values():
            _exec(admin_url, f'drop database if exists "{name}" with (force)')
