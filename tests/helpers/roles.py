"""Test helpers for role checks: log in as a fresh member of a group role, try a statement."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import psycopg2
import sqlalchemy as sa

from common.warehouse import libpq_dsn, transaction


def can(conn: psycopg2.extensions.connection, statement: str) -> bool:
    """Whether the connection's role may run the statement (rolled back either way)."""
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
        return True
    except psycopg2.errors.InsufficientPrivilege:
        return False
    finally:
        conn.rollback()


@contextlib.contextmanager
def members_of(warehouse_url: str) -> Iterator[Callable[[str], psycopg2.extensions.connection]]:
    """Yields connect(group): a connection as a new LOGIN member of that group role; all are dropped after."""
    created: list[str] = []
    conns: list[psycopg2.extensions.connection] = []

    def connect(group: str) -> psycopg2.extensions.connection:
        user = f"test_{group}_{uuid.uuid4().hex[:8]}"
        with transaction(warehouse_url) as cur:
            cur.execute(f'create role "{user}" login in role {group}')
        created.append(user)
        url = sa.make_url(warehouse_url).set(username=user, password=None)
        conns.append(psycopg2.connect(libpq_dsn(url.render_as_string(hide_password=False))))
        return conns[-1]

    try:
        yield connect
    finally:
        for conn in conns:
            conn.close()
        for user in created:
            with transaction(warehouse_url) as cur:
                cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", (user,))
                cur.execute(f'drop owned by "{user}"')
                cur.execute(f'drop role "{user}"')
