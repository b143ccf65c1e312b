"""The one warehouse connection helper: resolve connection ids to URLs, connect, bulk-copy."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa

WAREHOUSE = "warehouse"
# Migrations (DDL, roles, grants) run with this connection; unset, they use the warehouse connection.
WAREHOUSE_ADMIN = "warehouse_admin"
CRM_SOURCE = "crm_source"
FINANCE_SOURCE = "finance_source"

# Database on the embedded server that stands in for each connection id when nothing is configured.
EMBEDDED_DATABASES = {WAREHOUSE: "warehouse", CRM_SOURCE: "crm_source", FINANCE_SOURCE: "finance_source"}


class ConnectionNotConfigured(RuntimeError):
    """No URL for a connection id and no embedded default for it."""


def _normalise(url: str) -> str:
    """Airflow writes postgres://; SQLAlchemy wants postgresql+psycopg2://."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a connection URI: {url!r}")
    if scheme in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        return f"postgresql+psycopg2://{rest}"
    return url


def _from_airflow_json(raw: str) -> str:
    conn = json.loads(raw)
    login = quote(conn.get("login") or "", safe="")
    password = quote(conn.get("password") or "", safe="")
    auth = f"{login}:{password}@" if password else (f"{login}@" if login else "")
    port = f":{conn['port']}" if conn.get("port") else ""
    return f"postgresql+psycopg2://{auth}{conn.get('host', '')}{port}/{conn.get('schema', '')}"


def _from_airflow_store(conn_id: str) -> str | None:
    """Inside an Airflow task, ask Airflow's connection store (UI, secrets backends)."""
    if "airflow.sdk" not in sys.modules:
        return None
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id).get_uri()
    except Exception:  # noqa: BLE001 - not found or not inside a task: fall back to the default
        return None


def connection_url(conn_id: str = WAREHOUSE) -> str:
    """SQLAlchemy URL for an Airflow connection id (warehouse, crm_source, finance_source, ...)."""
    if conn_id == WAREHOUSE and os.environ.get("WAREHOUSE_URL"):
        return _normalise(os.environ["WAREHOUSE_URL"])
    env_value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if env_value:
        env_value = env_value.strip()
        return _from_airflow_json(env_value) if env_value.startswith("{") else _normalise(env_value)
    stored = _from_airflow_store(conn_id)
    if stored:
        return _normalise(stored)
    if conn_id == WAREHOUSE_ADMIN:
        return connection_url(WAREHOUSE)
    if conn_id in EMBEDDED_DATABASES:
        # the development default: imported only here, so a deployment that configures its
        # connections never loads the development tooling
        from devtools import embedded_pg

        return embedded_pg.ensure_running().url(EMBEDDED_DATABASES[conn_id])
    raise ConnectionNotConfigured(
        f"connection {conn_id!r} is not configured: set AIRFLOW_CONN_{conn_id.upper()} "
        "or add the connection in Airflow"
    )


def libpq_dsn(url: str) -> str:
    """psycopg2/libpq DSN for a SQLAlchemy URL.

    Query parameters are percent-encoded: SQLAlchemy writes a space as '+', which libpq keeps as a
    literal '+' (so `?options=-c statement_timeout=30s` would reach the server as '+statement_timeout').
    """
    parsed = sa.make_url(url).set(drivername="postgresql")
    base = parsed.set(query={}).render_as_string(hide_password=False)
    return f"{base}?{urlencode(parsed.query, doseq=True, quote_via=quote)}" if parsed.query else base


def url_parts(url: str) -> dict[str, Any]:
    """host, port, user, password, dbname of a URL (for dbt profiles and GX)."""
    parsed = sa.make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password or "",
        "dbname": parsed.database or "postgres",
    }


def connect(conn_id_or_url: str = WAREHOUSE, **kwargs: Any) -> psycopg2.extensions.connection:
    """A psycopg2 connection to a connection id or URL; the caller commits and closes it."""
    url = conn_id_or_url if "://" in conn_id_or_url else connection_url(conn_id_or_url)
    return psycopg2.connect(libpq_dsn(url), **kwargs)


@contextlib.contextmanager
def transaction(conn_id_or_url: str = WAREHOUSE) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor inside one transaction: committed on success, rolled back on any error."""
    conn = connect(conn_id_or_url)
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        # a dropped connection has nothing to roll back (the server did it): keep the original error
        # instead of replacing it with "connection already closed"
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        conn.close()


def one_row(cur: psycopg2.extensions.cursor) -> tuple[Any, ...]:
    """The row a query that always returns one row returned (an aggregate, a function call)."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError(f"expected one row from: {cur.query!r}")
    return row


def column_names(cur: psycopg2.extensions.cursor) -> list[str]:
    """Names of the columns of the query the cursor last ran."""
    if cur.description is None:
        raise RuntimeError(f"the query returned no columns: {cur.query!r}")
    return [d[0] for d in cur.description]


def engine(conn_id_or_url: str = WAREHOUSE) -> sa.Engine:
    """A SQLAlchemy engine (for pandas.read_sql); dispose it when done."""
    url = conn_id_or_url if "://" in conn_id_or_url else connection_url(conn_id_or_url)
    return sa.create_engine(url, pool_pre_ping=True)


COPY_READ_SIZE = 1 << 20  # bytes handed to the server per call: fewer round trips through Python


def arrow_csv(rows: Any) -> io.BytesIO:
    """An Arrow table as COPY-ready CSV (no header), positioned at the start.

    Arrow's CSV writer quotes every string ("needed" quoting), so an empty string stays an empty
    string and only an unquoted empty field is NULL. It is much faster than pandas' to_csv on large
    batches.
    """
    import pyarrow.csv as pacsv

    buf = io.BytesIO()
    if rows.num_rows:
        pacsv.write_csv(rows, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    buf.seek(0)
    return buf


def copy_csv(cur: psycopg2.extensions.cursor, table: str, columns: list[str], data: Any) -> int:
    """COPY a file-like of CSV (no header, as arrow_csv writes it) into the given columns of schema.table;
    returns the row count the server reports, so callers can check it against what they sent."""
    from psycopg2 import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(*table.split(".")), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    cur.copy_expert(statement, data, size=COPY_READ_SIZE)
    return cur.rowcount


def copy_arrow(cur: psycopg2.extensions.cursor, table: str, rows: Any) -> int:
    """Bulk-load an Arrow table into schema.table with COPY; returns the row count."""
    if rows.num_rows == 0:
        return 0
    copied = copy_csv(cur, table, list(rows.column_names), arrow_csv(rows))
    if copied != rows.num_rows:
        raise RuntimeError(f"COPY into {table} stored {copied} of {rows.num_rows} rows")
    return copied


def copy_rows(cur: psycopg2.extensions.cursor, table: str, columns: list[str], frame: Any) -> int:
    """Bulk-load the given columns of a pandas frame into schema.table with COPY; returns the row count.

    NaN and None arrive as NULL; integer columns that hold nulls are written as whole numbers.
    """
    import pyarrow as pa

    if len(frame) == 0:
        return 0
    return copy_arrow(cur, table, pa.Table.from_pandas(frame[columns], preserve_index=False))
