"""pipeline_writer may do what migration 090_roles grants and nothing more (bi_reader: tests/integration/test_bi_roles.py).

Promised: read the feature marts (also tables added later), read and write rows of ratings and
ratings_stage. Not granted, so refused: anything in raw, staging (PII), intermediate, audit and
quarantine; writing the marts; any change of structure (create, alter, drop, truncate, grant).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from common.warehouse import transaction
from tests.helpers.roles import can, members_of

# Schemas whose content pipeline_writer must not see: raw and staging hold PII by design.
NO_ACCESS = ["raw_crm", "raw_finance", "staging", "intermediate", "audit", "quarantine"]


@pytest.fixture
def writer(warehouse_url: str) -> Iterator[Callable[[str], bool]]:
    """A LOGIN member of pipeline_writer; yields can(statement) -> allowed?"""
    with transaction(warehouse_url) as cur:
        for schema in [*NO_ACCESS, "marts"]:
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f"create table {schema}.probe (legal_name text, tax_id text)")
            cur.execute(f"insert into {schema}.probe values ('ACME Ltd', 'DE123456789')")
    with members_of(warehouse_url) as connect:
        conn = connect("pipeline_writer")
        yield lambda statement: can(conn, statement)


@pytest.mark.usefixtures("bi_views")
def test_pipeline_writer_reads_marts_and_writes_ratings_rows(writer) -> None:
    assert writer("select * from marts.probe")
    assert writer("select * from ratings.customer_ratings")
    assert writer("select * from ratings.current_customer_ratings")
    assert writer("select * from ratings.customer_rating_versions")
    assert writer("delete from ratings.customer_rating_versions where valid_from_date = current_date")
    assert writer("update ratings.customer_rating_versions set valid_to_date = current_date + 1"
                  " where valid_to_date = current_date")
    assert writer("delete from ratings.rated_dates where as_of_date = current_date")
    assert writer("insert into ratings_stage.customer_ratings (customer_id, as_of_date, pd_12m, score, rating_grade,"
                  " risk_segment, recommended_credit_limit, decision, decision_rationale, model_name, model_version,"
                  " run_id, scored_at) values ('c', current_date, 0.1, 500, 'A', 'low', 0, 'approve', 'x', 'm', '1',"
                  " 'r', now())")
    assert writer("update ratings.model_monitoring set psi = 0 where as_of_date = current_date")


@pytest.mark.usefixtures("bi_views")
def test_pipeline_writer_reads_the_ratings_views_and_writes_the_tables_behind_them(
        warehouse_url: str, writer) -> None:
    views = ("customer_ratings", "current_customer_ratings", "grade_migration_monthly")
    for view in views:
        assert writer(f"select * from ratings.{view}")
    with transaction(warehouse_url) as cur:
        cur.execute("select c.relname, has_table_privilege('pipeline_writer', c.oid, 'insert, update, delete')"
                    " from pg_class as c where c.relnamespace = 'ratings'::regnamespace and c.relname = any(%s)",
                    (list(views),))
        assert dict(cur.fetchall()) == dict.fromkeys(views, False)


def test_pipeline_writer_reads_mart_tables_created_after_the_migration(warehouse_url: str, writer) -> None:
    with transaction(warehouse_url) as cur:  # as dbt would, with the migrating role
        cur.execute("create table marts.added_later (customer_id text)")
    assert writer("select * from marts.added_later")


@pytest.mark.parametrize("schema", NO_ACCESS)
def test_pipeline_writer_cannot_read_raw_pii_staging_audit_or_quarantine(writer, schema: str) -> None:
    assert not writer(f"select legal_name from {schema}.probe")
    assert not writer(f"insert into {schema}.probe values ('x', 'y')")


@pytest.mark.parametrize("statement", [
    "insert into marts.probe values ('x', 'y')",
    "delete from marts.probe",
    "truncate ratings.customer_rating_versions",
    "drop table ratings.customer_rating_versions",
    "drop view ratings.customer_ratings",
    "create or replace view ratings.customer_ratings as select 1 as x",
    "drop schema ratings cascade",
    "drop schema marts cascade",
    "alter table ratings.customer_rating_versions add column note text",
    "create table ratings.mine (x int)",
    "create table ratings_stage.mine (x int)",
    "create table public.mine (x int)",
    "create schema mine",
    "create or replace view ratings.current_customer_ratings as select 1 as x",
    "create index on ratings.customer_rating_versions (score)",
])
def test_pipeline_writer_cannot_change_structure_or_write_marts(writer, statement: str) -> None:
    assert not writer(statement)
