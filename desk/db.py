"""The desk's warehouse connections: its own role (desk_service), pooled, one transaction per request."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa

from common.warehouse import WAREHOUSE, connection_url, libpq_dsn
from desk.queries import Prepared

DESK_ROLE = "desk_service"


def desk_url() -> str:
    """DESK_WAREHOUSE_URL, else the warehouse connection logged in as desk_service (local default)."""
    if os.environ.get("DESK_WAREHOUSE_URL"):
        return os.environ["DESK_WAREHOUSE_URL"]
    url = sa.make_url(connection_url(WAREHOUSE)).set(username=DESK_ROLE, password=None)
    return url.render_as_string(hide_password=False)


class DeskConnection(psycopg2.extensions.connection):
    """A connection that knows which of the desk's statements are prepared on its session."""

    prepared: frozenset[str] = frozenset()


class Database:
    """A small thread-safe pool; `transaction()` commits on success and rolls back on any error.

    Connections are opened on demand, up to max_connections, and kept open for the next request
    (psycopg2's own pools close every returned connection beyond `minconn`, which made most requests
    pay a new connection: a backend start on the server). A connection that broke is discarded.
    Each new connection prepares the statements in `prepare` (the credit check's) once.
    """

    def __init__(self, url: str, max_connections: int = 16, prepare: tuple[Prepared, ...] = ()) -> None:
        self._dsn = libpq_dsn(url)
        self._prepare = prepare
        # callers wait here when every connection is in use (request threads outnumber connections)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._idle: list[psycopg2.extensions.connection] = []
        self._open: set[psycopg2.extensions.connection] = set()
        self._closed = False

    def _connect(self) -> psycopg2.extensions.connection:
        # bounded statements: a stuck query answers as an error instead of holding a worker forever
        conn = psycopg2.connect(
            self._dsn,
            options="-c statement_timeout=5000",
            application_name="credit-desk",
            connection_factory=DeskConnection,
        )
        try:
            if self._prepare:
                with conn.cursor() as cur:
                    for statement in self._prepare:
                        cur.execute(statement.prepare)
                conn.commit()  # prepared statements live as long as the session, not the transaction
                conn.prepared = frozenset(statement.name for statement in self._prepare)
        except BaseException:
            conn.close()
            raise
        return conn

    def _get(self) -> psycopg2.extensions.connection:
        with self._lock:
            if self._closed:
                raise RuntimeError("the desk's connection pool is closed")
            if self._idle:
                return self._idle.pop()  # the most recently used: its backend is warm
        conn = self._connect()
        with self._lock:
            self._open.add(conn)
        return conn

    def _put(self, conn: psycopg2.extensions.connection, discard: bool) -> None:
        if not discard and not conn.closed:
            if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                discard = True  # lost, or left inside a transaction: do not hand it to the next request
        with self._lock:
            if discard or self._closed:
                self._open.discard(conn)
            else:
                self._idle.append(conn)
                return
        conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        self._slots.acquire()
        try:
            conn = self._get()
            broken = False
            try:
                with conn.cursor() as cur:
                    yield cur
                conn.commit()
            except BaseException:
                broken = bool(conn.closed)
                if not broken:
                    try:
                        conn.rollback()
                    except psycopg2.Error:
                        broken = True
                raise
            finally:
                self._put(conn, discard=broken)
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._open, self._idle = list(self._open), set(), []
        for conn in conns:
            conn.close()
