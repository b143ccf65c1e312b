"""Credit events re-rate the affected customers within the day; the daily run stays the book of record.

One small book is simulated up to AS_OF (no source row after it), bootstrapped, rated for AS_OF and
given a champion; a copy of its warehouse (PostgreSQL template) never sees an event. The tests then
add source rows on NEXT_DAY with their messages and run the re-rating as the crm_credit_events DAG's
tasks do (pipeline.events), in file order; the last one runs the daily run of NEXT_DAY on both
warehouses. The DAG itself, with Redis, the scheduler and the triggerer: tests/dags/test_credit_events.py.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
import sqlalchemy as sa

from common.pseudonym import pseudonymise
from common.warehouse import libpq_dsn, transaction
from pipeline import events
from tests.helpers.book import AS_OF, NEXT_DAY, Book, midnight, rated_book
from tests.helpers.events import active_accounts, add_bureau_downgrade, add_default_event, message

pytestmark = pytest.mark.slow

TEN_AM = midnight(NEXT_DAY) + dt.timedelta(hours=10)
RATED_COLUMNS = ("customer_id, as_of_date, pd_12m, score, rating_grade, risk_segment, current_credit_limit,"
                 " recommended_credit_limit, decision, decision_rationale, reason_codes, model_name, model_version")


def rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with transaction(url) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def run_events(messages: list[str], run_id: str | None = None) -> dict:
    """The DAG's three tasks for one run, in order."""
    run_id = run_id or f"events_{uuid.uuid4().hex[:8]}"
    received = events.receive_task(messages, run_id)
    extracted = events.extract_task(run_id)
    return events.rerate_task(run_id, received, extracted) | {"run_id": run_id, "received": received}


def intraday_customers(url: str) -> set[str]:
    return {r[0] for r in rows(url, "select customer_id from ratings.customer_rating_versions"
                                    " where rating_kind = 'intraday'")}


@pytest.fixture(scope="module")
def book(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Book, str]]:
    """The rated book, and a copy of its warehouse taken before any event (the daily-only control)."""
    with rated_book(admin_url, tmp_path_factory.mktemp("events"), sources_end=AS_OF) as rated:
        template = sa.make_url(rated.dbs.warehouse).database
        name = f"{template}_control"
        conn = psycopg2.connect(libpq_dsn(admin_url))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s"
                        " and pid <> pg_backend_pid()", (template,))
            cur.execute(f'create database "{name}" template "{template}"')
        control = sa.make_url(rated.dbs.warehouse).set(database=name).render_as_string(hide_password=False)
        try:
            yield rated, control
        finally:
            with conn.cursor() as cur:
                cur.execute(f'drop database if exists "{name}" with (force)')
            conn.close()


def test_an_event_rerates_exactly_the_affected_customer(book: tuple[Book, str]) -> None:
    rated, _ = book
    wh = rated.dbs.warehouse
    account = active_accounts(wh, 1)[0]
    daily_before = rows(wh, f"select {RATED_COLUMNS} from ratings.customer_ratings order by 1, 2")

    result = run_events([add_default_event(rated.dbs.finance_source, account, TEN_AM)])

    customer = pseudonymise(account)
    assert result["as_of_date"] == NEXT_DAY.isoformat() and result["rerated"] == 1, result
    assert intraday_customers(wh) == {customer}
    current = rows(wh, "select as_of_date, rating_grade, decision, rating_kind, run_id"
                       " from ratings.current_customer_ratings where customer_id = %s", (customer,))
    assert current == [(NEXT_DAY, result["grade_changes"][customer].split(" -> ")[1],
                        result["decisions"][customer], "intraday", result["run_id"])]
    assert current[0][1] == "D", "an insolvency puts the customer in default"
    # the loader's rules and counts: one intraday batch with the one row, nothing quarantined
    batches = rows(wh, "select source_table, extracted, loaded, quarantined from audit.batch_counts"
                       " where batch_id like %s", ("%/intraday",))
    assert batches == [("finance.default_events", 1, 1, 0)]
    # the rated dates BI reads are untouched; a warning for the default is open, marked intraday
    assert rows(wh, f"select {RATED_COLUMNS} from ratings.customer_ratings order by 1, 2") == daily_before
    assert ("intraday",) in rows(wh, "select rating_kind from ratings.open_credit_warnings"
                                     " where customer_id = %s", (customer,))


def test_a_burst_of_events_coalesces_into_one_rerating_per_customer(book: tuple[Book, str]) -> None:
    rated, _ = book
    wh = rated.dbs.warehouse
    first, second = active_accounts(wh, 3)[1:]
    at = TEN_AM + dt.timedelta(minutes=5)
    burst = [add_bureau_downgrade(rated.dbs.finance_source, first, at + dt.timedelta(seconds=i)) for i in range(3)]
    burst += [add_bureau_downgrade(rated.dbs.finance_source, second, at + dt.timedelta(seconds=5))]
    burst += [burst[0]]  # a message delivered twice

    result = run_events(burst)

    assert result["received"]["accepted"] == 5 and result["rerated"] == 2, result
    assert rows(wh, "select count(*) from events.inbox where run_id = %s", (result["run_id"],)) == [(4,)]
    versions = rows(wh, "select customer_id, count(*) from ratings.customer_rating_versions"
                        " where rating_kind = 'intraday' and customer_id = any(%s) group by 1",
                    ([pseudonymise(first), pseudonymise(second)],))
    assert sorted(v[1] for v in versions) == [1, 1]


def test_a_lost_message_is_recovered_by_the_source_watermark(book: tuple[Book, str]) -> None:
    rated, _ = book
    wh = rated.dbs.warehouse
    lost, signalled = active_accounts(wh, 5)[3:]
    at = TEN_AM + dt.timedelta(minutes=20)
    add_default_event(rated.dbs.finance_source, lost, at)  # published while the triggerer was down: gone
    result = run_events([add_bureau_downgrade(rated.dbs.finance_source, signalled, at + dt.timedelta(minutes=1))])

    assert result["rerated"] == 2, result
    assert {pseudonymise(lost), pseudonymise(signalled)} <= intraday_customers(wh)
    grade = rows(wh, "select rating_grade, rating_kind from ratings.current_customer_ratings where customer_id = %s",
                 (pseudonymise(lost),))
    assert grade == [("D", "intraday")]


def test_bad_events_are_rejected_with_their_reason(book: tuple[Book, str]) -> None:
    rated, _ = book
    wh = rated.dbs.warehouse
    at = TEN_AM + dt.timedelta(minutes=30)
    bad = [
        "{not json",
        json.dumps({"event_id": "ev-no-type", "account_id": "x", "occurred_at": at.isoformat()}),
        message("rumour_heard", active_accounts(wh, 1)[0], at, event_id="ev-rumour"),
        message("payment_received", "ACC-NOT-THERE", at, event_id="ev-unknown"),
        message("payment_received", active_accounts(wh, 1)[0], at, event_id="ev-bad-time") .replace(
            at.isoformat(), "yesterday-ish"),
    ]
    before = intraday_customers(wh)

    result = run_events(bad)

    reasons = dict(rows(wh, "select coalesce(event_id, '-'), reason from events.rejected_events where run_id = %s",
                        (result["run_id"],)))
    assert reasons["-"].startswith("malformed JSON")
    assert reasons["ev-no-type"] == "missing required field(s): event_type"
    assert reasons["ev-rumour"].startswith("unknown event_type 'rumour_heard'")
    assert reasons["ev-unknown"] == "unknown customer: account 'ACC-NOT-THERE' is not in the warehouse"
    assert reasons["ev-bad-time"].startswith("occurred_at is not an ISO timestamp")
    assert len(reasons) == 5 and rows(wh, "select count(*) from events.inbox where run_id = %s",
                                      (result["run_id"],)) == [(0,)]
    assert result["rerated"] == 0 and intraday_customers(wh) == before


def test_the_daily_run_of_the_date_supersedes_the_intraday_ratings(book: tuple[Book, str], monkeypatch) -> None:
    from pipeline import daily

    rated, control = book
    wh = rated.dbs.warehouse
    assert intraday_customers(wh), "the tests above left intraday ratings"

    def daily_run(url: str) -> list[tuple]:
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url.replace("postgresql+psycopg2://", "postgresql://"))
        run_id = f"daily_{uuid.uuid4().hex[:6]}"
        for source in ("crm", "finance"):
            daily.extract(source, midnight(NEXT_DAY), midnight(NEXT_DAY + dt.timedelta(days=1)), run_id)
        daily.build_features(NEXT_DAY, run_id)
        daily.score(NEXT_DAY, run_id)
        return rows(url, f"select {RATED_COLUMNS}, rating_kind from ratings.customer_ratings order by 1, 2")

    with_events = daily_run(wh)
    daily_only = daily_run(control)

    assert with_events == daily_only  # the daily rows are the same as if no event had ever come
    assert intraday_customers(wh) == set()
    assert rows(wh, "select count(*) from ratings.credit_warnings where rating_kind = 'intraday'") == [(0,)]
    assert rows(wh, "select count(*) from audit.batch_counts where batch_id like %s", ("%/intraday",)) == [(0,)]
    current = rows(wh, "select distinct as_of_date, rating_kind from ratings.current_customer_ratings"
                       " where as_of_date = %s", (NEXT_DAY,))
    assert current == [(NEXT_DAY, "daily")]
    warnings = "select customer_id, rule_code, first_seen_date, status from ratings.credit_warnings order by 1, 2, 3"
    assert rows(wh, warnings) == rows(control, warnings)
