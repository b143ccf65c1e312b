"""Scratch databases for tests and benchmarks: pick a server, create and drop databases on it."""

from __future__ import annotations

import os

import psycopg2
import sqlalchemy as sa
from psycopg2 import sql

from common.warehouse import _normalise, libpq_dsn

LOCAL_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    """An admin URL: TEST_WAREHOUSE_URL, else the server on 127.0.0.1:5432 when it answers, else embedded."""
    if os.environ.get("TEST_WAREHOUSE_URL"):
        return _normalise(os.environ["TEST_WAREHOUSE_URL"])
    try:
        psycopg2.connect(libpq_dsn(LOCAL_SERVER), connect_timeout=3).close()
        return LOCAL_SERVER
    except psycopg2.OperationalError:
        from devtools import embedded_pg

        return embedded_pg.ensure_running().url("postgres")


def _admin_exec(admin_url: str, statement: sql.Composable) -> None:
    conn = psycopg2.connect(libpq_dsn(admin_url))
    conn.autocommit = True  # create/drop database cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def create_database(admin_url: str, name: str, replace: bool = False) -> str:
    """Create database `name` on the admin URL's server (dropping it first if replace); returns its URL."""
    if replace:
        drop_database(admin_url, name)
    _admin_exec(admin_url, sql.SQL("create database {}").format(sql.Identifier(name)))
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists, ending its sessions."""
    _admin_exec(admin_url, sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
