"""The warehouse helpers against a real PostgreSQL."""

import pandas as pd

from common.migrate import migrate
from common.warehouse import connect, copy_rows, transaction


def test_migrations_apply_once_and_rerun_is_a_no_op(pipeline_dbs):
    first = migrate(pipeline_dbs.warehouse)
    second = migrate(pipeline_dbs.warehouse)
    assert "001_core.sql" in first
    assert second == []
    with transaction(pipeline_dbs.warehouse) as cur:
        cur.execute("select count(*) from audit.schema_migrations")
        assert cur.fetchone()[0] == len(first)


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
