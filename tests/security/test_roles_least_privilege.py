"""pipeline_writer may do what migrations 090_roles and 160_pipeline_owner give it and nothing more
(bi_reader: tests/integration/test_bi_roles.py; the run-time login end to end: test_runtime_roles.py).

Promised: pipeline_writer owns the pipeline's schemas and everything the migrations put in them, so it
(and the run-time login crm_pipeline acting as it) loads raw, builds with dbt (create, replace, drop its
own tables and views), scores and publishes; it reads the desk's limit overrides and mart tables added
later by the admin. Not granted, so refused: new schemas, the public schema, the desk's other tables,
roles, and any object the admin created after the migrations without a grant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from common.warehouse import transaction
from tests.helpers.roles import can, members_of

# Created by the admin after the migrations, without a grant: not the pipeline's.
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


def test_pipeline_writer_is_no_superuser_and_owns_its_schemas(warehouse_url: str) -> None:
    with transaction(warehouse_url) as cur:
        cur.execute("select rolsuper, rolcreaterole, rolcreatedb, rolcanlogin from pg_roles"
                    " where rolname = 'pipeline_writer'")
        assert cur.fetchall() == [(False, False, False, False)]
        cur.execute("select nspname from pg_namespace where pg_get_userbyid(nspowner) = 'pipeline_writer'"
                    " order by 1")
        assert [r[0] for r in cur.fetchall()] == sorted(
            ["audit", "events", "intermediate", "marts", "model_shadow", "quarantine", "ratings", "ratings_stage",
             "raw_crm", "raw_finance", "seeds", "staging"])


@pytest.mark.parametrize("statement", [
    "delete from raw_crm.accounts where false",
    "insert into quarantine.rejected_rows select * from quarantine.rejected_rows where false",
    "create table staging.mine (x int)",
    "create table marts.mine (x int)",
    "create or replace view ratings.mine as select 1 as x",
    "truncate ratings_stage.customer_ratings",
    "alter table ratings.customer_rating_versions add column note text",
    "create index on ratings.customer_rating_versions (score)",
    "analyze raw_crm.accounts",
    "select * from desk.limit_overrides",
])
def test_pipeline_writer_loads_builds_and_publishes_in_its_schemas(writer, statement: str) -> None:
    assert writer(statement)


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


def test_pipeline_writer_reads_mart_tables_created_after_the_migration(warehouse_url: str, writer) -> None:
    with transaction(warehouse_url) as cur:  # as dbt would, with the migrating role
        cur.execute("create table marts.added_later (customer_id text)")
    assert writer("select * from marts.added_later")


@pytest.mark.parametrize("schema", NO_ACCESS)
def test_pipeline_writer_cannot_read_raw_pii_staging_audit_or_quarantine(writer, schema: str) -> None:
    assert not writer(f"select legal_name from {schema}.probe")
    assert not writer(f"insert into {schema}.probe values ('x', 'y')")


@pytest.mark.parametrize("schema", NO_ACCESS)
def test_pipeline_writer_cannot_touch_what_the_admin_added_without_a_grant(writer, schema: str) -> None:
    assert not writer(f"select legal_name from {schema}.probe")
    assert not writer(f"insert into {schema}.probe values ('x', 'y')")


@pytest.mark.parametrize("statement", [
    "insert into marts.probe values ('x', 'y')",
    "create table public.mine (x int)",
    "create schema mine",
    "create role mine",
    "alter role pipeline_writer superuser",
    "insert into desk.customer_blocks (customer_id, reason, created_by) values ('c', 'x', 'y')",
    "delete from desk.audit_log",
    "select * from desk.api_tokens",
    "drop schema desk cascade",
])
def test_pipeline_writer_cannot_leave_its_schemas(writer, statement: str) -> None:
    assert not writer(statement)
