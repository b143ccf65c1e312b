"""The pipeline runs as crm_pipeline acting as pipeline_writer, not as a superuser (160_pipeline_owner.sql).

A simulated book is migrated with the admin URL, then bootstrapped, extracted, built with dbt, gated,
trained on and rated entirely through the run-time login. Then: every object of the pipeline schemas
belongs to pipeline_writer, and the login can do its list (DDL and DML in its schemas, read the desk's
limit overrides) and nothing else (no roles, databases, server settings, programs, desk writes, other
roles' identities).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from common.warehouse import libpq_dsn, transaction
from tests.helpers.book import Book, rated_book, runtime_url
from tests.helpers.roles import can

pytestmark = pytest.mark.slow

PIPELINE_SCHEMAS = ["raw_crm", "raw_finance", "quarantine", "staging", "intermediate", "marts", "seeds", "ratings",
                    "ratings_stage", "audit", "model_shadow", "events"]


@pytest.fixture(scope="module")
def book(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    with rated_book(admin_url, tmp_path_factory.mktemp("runtime"), seed=31, runtime_login=True) as rated:
        yield rated


@pytest.fixture
def runtime(book: Book) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(libpq_dsn(runtime_url(book.dbs.warehouse)))
    yield conn
    conn.close()


def test_the_book_was_rated_through_the_run_time_login(book: Book) -> None:
    with transaction(book.dbs.warehouse) as cur:
        cur.execute("select count(*) from ratings.customer_ratings where as_of_date = %s", (book.as_of,))
        assert cur.fetchone()[0] > 150
        cur.execute("select rolsuper, rolcreaterole, rolcreatedb, rolcanlogin from pg_roles"
                    " where rolname in ('crm_pipeline', 'pipeline_writer') order by rolname")
        assert cur.fetchall() == [(False, False, False, True), (False, False, False, False)]

    # publishing's dead rows, where the server's autovacuum is off, were vacuumed by the run-time login
    # itself (it owns the ratings tables: VACUUM by another role would skip them with a warning)
    with transaction(book.dbs.warehouse) as cur:
        cur.execute("select current_setting('autovacuum')::boolean")
        autovacuum = cur.fetchone()[0]
        cur.execute("select detail -> 'reclaimed' from audit.pipeline_runs where task_id = 'score_and_publish'")
        reclaimed = cur.fetchone()[0]
        cur.execute("select last_vacuum from pg_stat_user_tables"
                    " where schemaname = 'ratings' and relname = 'customer_rating_versions'")
        last_vacuum = cur.fetchone()[0]
    assert reclaimed["autovacuum"] is autovacuum
    if not autovacuum:
        assert "ratings.customer_rating_versions" in reclaimed["vacuumed"] and last_vacuum is not None


def test_everything_in_the_pipeline_schemas_belongs_to_pipeline_writer(book: Book) -> None:
    with transaction(book.dbs.warehouse) as cur:
        cur.execute("select n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner) from pg_class c"
                    " join pg_namespace n on n.oid = c.relnamespace where n.nspname = any(%s)"
                    " and c.relkind in ('r', 'p', 'v', 'm', 'S') and pg_get_userbyid(c.relowner) <> 'pipeline_writer'",
                    (PIPELINE_SCHEMAS,))
        assert cur.fetchall() == []
        cur.execute("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                    " where n.nspname = any(%s) and c.relkind in ('r', 'p')", (PIPELINE_SCHEMAS,))
        assert cur.fetchone()[0] > 30


def test_the_run_time_login_refreshes_the_desk_after_publishing(book: Book) -> None:
    """The daily DAG's refresh_desk runs `python -m desk after-publish` with the pipeline's connection."""
    from desk.service import after_publish
    from desk.settings import DeskConfig

    with transaction(runtime_url(book.dbs.warehouse)) as cur:
        done = after_publish(cur, DeskConfig.load())
    assert done["exposure_refreshed"] > 150


def test_the_run_time_login_does_its_list(runtime) -> None:
    with runtime.cursor() as cur:
        cur.execute("select current_user, session_user")
        assert cur.fetchone() == ("pipeline_writer", "crm_pipeline")
    runtime.rollback()
    assert can(runtime, "create table staging.probe (x int); drop table staging.probe")
    assert can(runtime, "delete from raw_crm.accounts where false")
    assert can(runtime, "truncate ratings_stage.customer_ratings")
    assert can(runtime, "select * from desk.limit_overrides")


@pytest.mark.parametrize("statement", [
    "create role intruder",
    "create database intruder",
    "alter system set log_statement = 'none'",
    "set role postgres",
    "copy (select 1) to program 'true'",
    "select pg_read_file('postgresql.conf')",
    "insert into desk.customer_blocks (customer_id, reason, created_by) values ('c', 'x', 'y')",
    "delete from desk.audit_log",
    "drop schema desk cascade",
    "alter role pipeline_writer superuser",
])
def test_the_run_time_login_can_do_nothing_else(runtime, statement) -> None:
    # CREATE DATABASE and ALTER SYSTEM refuse transaction blocks: try them as the server would see them
    runtime.autocommit = statement.startswith(("create database", "alter system"))
    assert not can(runtime, statement)
