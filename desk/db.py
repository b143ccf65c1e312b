"""The desk's warehouse connections: its own role (desk_service), pooled, one transaction per request."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import psycopg2.extensions
import psycopg2.pool
import sqlalchemy as sa

from common.warehouse import WAREHOUSE, connection_url, libpq_dsn

DESK_ROLE = "desk_service"


def desk_url() -> str:
    """DESK_WAREHOUSE_URL, else the warehouse connection logged in as desk_service (local default)."""
    if os.environ.get("DESK_WAREHOUSE_URL"):
        return os.environ["DESK_WAREHOUSE_URL"]
    url = sa.make_url(connection_url(WAREHOUSE)).set(username=DESK_ROLE, password=None)
    return url.render_as_string(hide_password=False)


class Database:
    """A small thread-safe pool; `transaction()` commits on success and rolls back on any error."""

    def __init__(self, url: str, max_connections: int = 16) -> None:
        dsn = libpq_dsn(url)
        # the pool raises when empty; callers wait here instead (request threads outnumber connections)
        self._slots = threading.BoundedSemaphore(max_connections)
        # bounded statements: a stuck query answers as an error instead of holding a worker forever
        self._pool = psycopg2.pool.ThreadedConnectionPool(
            1, max_connections, dsn, options="-c statement_timeout=5000", application_name="credit-desk"
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        self._slots.acquire()
        conn = self._pool.getconn()
        broken = False
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except BaseException:
            broken = bool(conn.closed)
            if not broken:
                conn.rollback()
            raise
        finally:
            self._pool.putconn(conn, close=broken)
            self._slots.release()

    def close(self) -> None:
        self._pool.closeall()
