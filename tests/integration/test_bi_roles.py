"""The bi_reader role reads the ratings schema and nothing else; pipeline_writer writes ratings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.warehouse import transaction
from tests.helpers.roles import can, members_of

RATINGS_RELATIONS = [
    "customer_ratings", "customer_rating_versions", "rated_dates", "current_customer_ratings", "credit_warnings", "open_credit_warnings",
    "rating_master_scale", "model_monitoring", "grade_migration_monthly", "risk_segments",
    "data_quality_results", "reason_codes", "override_rate_by_grade", "portfolio_by_grade_segment", "warnings_daily",
    "decision_mix_daily", "backtest_by_grade",
]
# One table in every schema BI must not see (raw data, PII in staging, marts, audit, quarantine, stage).
FORBIDDEN = ["raw_crm", "raw_finance", "staging", "intermediate", "marts", "audit", "quarantine", "ratings_stage"]


@pytest.fixture
def login_as(warehouse_url: str) -> Iterator:
    """Yields connect(group): a connection as a new LOGIN member of a group role."""
    with members_of(warehouse_url) as connect:
        yield connect


@pytest.fixture
def probe_tables(warehouse_url: str) -> None:
    with transaction(warehouse_url) as cur:
        for schema in FORBIDDEN:
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f"create table {schema}.bi_probe (legal_name text)")
            cur.execute(f"insert into {schema}.bi_probe values ('ACME Ltd')")


@pytest.mark.usefixtures("bi_views")
def test_bi_reader_reads_ratings_and_nothing_else(warehouse_url: str, probe_tables: None, login_as) -> None:
    conn = login_as("bi_reader")
    try:
        for rel in RATINGS_RELATIONS:
            assert can(conn, f"select * from ratings.{rel} limit 1"), rel
        for schema in FORBIDDEN:
            assert not can(conn, f"select * from {schema}.bi_probe"), schema
        assert not can(conn, "insert into ratings.risk_segments values ('x', 1, '{}', 1, 'x')")
        assert not can(conn, "delete from ratings.customer_rating_versions")
        assert not can(conn, "update ratings.rated_dates set run_id = 'x'")
        assert not can(conn, "create table ratings.mine (x int)")
    finally:
        conn.close()


def test_bi_reader_can_read_tables_added_to_ratings_later(warehouse_url: str, login_as) -> None:
    with transaction(warehouse_url) as cur:
        cur.execute("create table ratings.added_later (x int)")
    conn = login_as("bi_reader")
    try:
        assert can(conn, "select * from ratings.added_later")
    finally:
        conn.close()


def test_pipeline_writer_writes_ratings_but_bi_roles_are_nologin(warehouse_url: str, login_as) -> None:
    conn = login_as("pipeline_writer")
    try:
        assert can(conn, "insert into ratings.risk_segments values ('x', 1, '{A}', 1, 'x')")
        assert can(conn, "insert into ratings_stage.warning_observations (run_id, customer_id, rule_code,"
                    " as_of_date, severity, message) values ('r', 'c', 'R', current_date, 'info', 'm')")
        assert can(conn, "insert into ratings.credit_warnings (customer_id, rule_code, severity, message,"
                    " first_seen_date, last_seen_date, status) values ('c', 'R', 'info', 'm', current_date,"
                    " current_date, 'open')")
    finally:
        conn.close()
    with transaction(warehouse_url) as cur:
        cur.execute("select rolname, rolcanlogin from pg_roles where rolname in ('bi_reader', 'pipeline_writer')")
        assert dict(cur.fetchall()) == {"bi_reader": False, "pipeline_writer": False}
