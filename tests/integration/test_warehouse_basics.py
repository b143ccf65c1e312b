"""The warehouse helpers against a real PostgreSQL."""

import shutil

import pandas as pd
import pytest

from common import migrate as migrations
from common.migrate import MigrationHistoryError, migrate, migration_files
from common.warehouse import connect, copy_rows, transaction


def test_migrations_apply_once_and_rerun_is_a_no_op(pipeline_dbs):
    first = migrate(pipeline_dbs.warehouse)
    second = migrate(pipeline_dbs.warehouse)
    assert first == [p.name for p in migration_files()] and first[0] == "001_schemas.sql"
    assert second == []
    with transaction(pipeline_dbs.warehouse) as cur:
        cur.execute("select count(*) from audit.schema_migrations")
        assert cur.fetchone()[0] == len(first)


def _applied(url: str) -> list[str]:
    with transaction(url) as cur:
        cur.execute("select to_regclass('audit.schema_migrations') is not null")
        if not cur.fetchone()[0]:
            return []
        cur.execute("select name from audit.schema_migrations order by name")
        return [r[0] for r in cur.fetchall()]


def test_a_warehouse_from_the_migration_history_before_the_baseline_is_refused_with_the_way_out(pipeline_dbs):
    url = pipeline_dbs.warehouse
    with transaction(url) as cur:  # what the numbered files before the squash left behind
        cur.execute("create schema audit; create schema raw_crm; create table audit.schema_migrations ("
                    " name text primary key, applied_at timestamptz not null default now())")
        cur.execute("insert into audit.schema_migrations (name) values ('001_core.sql'), ('012_raw_lean_indexes.sql')")
    with pytest.raises(MigrationHistoryError, match=r"001_core\.sql, 012_raw_lean_indexes\.sql.*make clean"):
        migrate(url)
    assert _applied(url) == ["001_core.sql", "012_raw_lean_indexes.sql"]  # nothing applied on top


def test_a_new_migration_numbered_before_an_applied_one_is_refused(pipeline_dbs, tmp_path, monkeypatch):
    url = pipeline_dbs.warehouse
    for path in migration_files():
        shutil.copy(path, tmp_path / path.name)
    # numbers after every real migration (branches add 1NN files), so the story is the test's own
    (tmp_path / "900_later.sql").write_text("create table audit.later (a int);")
    every = migrations.migration_files
    monkeypatch.setattr(migrations, "migration_files", lambda: every(tmp_path))
    assert migrate(url)[-1] == "900_later.sql"

    (tmp_path / "895_written_in_parallel.sql").write_text("create table audit.parallel (a int);")
    with pytest.raises(MigrationHistoryError, match=r"895_written_in_parallel\.sql sort before the applied 900_later"):
        migrate(url)
    (tmp_path / "895_written_in_parallel.sql").rename(tmp_path / "901_written_in_parallel.sql")
    assert migrate(url) == ["901_written_in_parallel.sql"]


def test_warning_runs_migration_keeps_each_episodes_first_day_from_the_observations_it_drops(
        pipeline_dbs, monkeypatch):
    url = pipeline_dbs.warehouse
    every = migrations.migration_files
    monkeypatch.setattr(migrations, "migration_files",
                        lambda: [p for p in every() if p.name < "180_warning_runs.sql"])
    migrate(url)
    with transaction(url) as cur:  # a warehouse of before: episodes and the daily hits behind them
        cur.execute("insert into ratings.credit_warnings (customer_id, rule_code, severity, metric_value, message,"
                    " first_seen_date, last_seen_date, status) values"
                    " ('c1', 'DPD_30', 'critical', 50, 'dpd 50', '2026-03-01', '2026-03-02', 'open'),"
                    " ('c2', 'DPD_30', 'critical', 33, 'dpd 33', '2026-03-02', '2026-03-02', 'open')")
        cur.execute("insert into ratings.warning_observations (customer_id, rule_code, as_of_date, severity,"
                    " metric_value, message) values ('c1', 'DPD_30', '2026-03-01', 'critical', 45, 'dpd 45'),"
                    " ('c1', 'DPD_30', '2026-03-02', 'critical', 50, 'dpd 50')")
    monkeypatch.setattr(migrations, "migration_files", every)
    assert migrate(url) == ["180_warning_runs.sql"]
    with transaction(url) as cur:
        cur.execute("select customer_id, first_metric_value, first_message, metric_value from ratings.credit_warnings"
                    " order by 1")
        # c1's first day from its observation; c2, without one, its only day's values
        assert cur.fetchall() == [("c1", 45.0, "dpd 45", 50.0), ("c2", 33.0, "dpd 33", 33.0)]
        cur.execute("select to_regclass('ratings.warning_observations')")
        assert cur.fetchone()[0] is None


def test_copy_rows_keeps_nulls_empty_strings_and_quotes_apart(warehouse_url):
    frame = pd.DataFrame({"a": [1, None, 3], "b": ["x", "y, with comma", None], "c": ["", "q\"uote", "z"]})
    with transaction(warehouse_url) as cur:
        cur.execute("create table audit.t_copy (a int, b text, c text)")
        assert copy_rows(cur, "audit.t_copy", ["a", "b", "c"], frame) == 3
    conn = connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("select a, b, c from audit.t_copy order by a nulls last")
        assert cur.fetchall() == [(1, "x", ""), (3, None, "z"), (None, "y, with comma", 'q"uote')]
    conn.close()


def test_connection_url_reads_airflow_conn_env(monkeypatch):
    from common.warehouse import connection_url

    monkeypatch.setenv("AIRFLOW_CONN_CRM_SOURCE", "postgres://u:p%40ss@db.example:6543/crm")
    assert connection_url("crm_source") == "postgresql+psycopg2://u:p%40ss@db.example:6543/crm"
    monkeypatch.setenv(
        "AIRFLOW_CONN_FINANCE_SOURCE",
        '{"conn_type": "postgres", "host": "h", "login": "l", "password": "pw", "schema": "fin", "port": 5433}',
    )
    assert connection_url("finance_source") == "postgresql+psycopg2://l:pw@h:5433/fin"
