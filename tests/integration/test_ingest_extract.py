"""Extraction from the simulated source databases into raw, quarantine and audit (real PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from common.migrate import migrate
from common.warehouse import transaction
from devtools.scratch import create_database, drop_database
from devtools.simulator import simulate
from ingest.connectors import SourceUnavailable, read_chunks
from ingest.extract import backfill, extract_interval
from ingest.load import OverlappingBatch, load_batch
from ingest.sources import source_spec

START = dt.date(2024, 1, 1)
HISTORY = dt.date(2000, 1, 1)  # the initial load covers everything before the first daily interval
D0 = dt.date(2024, 7, 1)
CUSTOMERS = 250


def _day(d: dt.date, n: int = 1) -> dt.date:
    return d + dt.timedelta(days=n)


def _initial_load(until: dt.date) -> None:
    for source in ("crm", "finance"):
        extract_interval(source, HISTORY, until, verbose=False)


def _daily(day: dt.date) -> None:
    for source in ("crm", "finance"):
        extract_interval(source, day, _day(day), verbose=False)


def _scalar(url: str, query: str, params: tuple = ()) -> object:
    with transaction(url) as cur:
        cur.execute(query, params)
        return cur.fetchone()[0]


def _raw_counts(url: str) -> dict[str, int]:
    counts = {}
    for source in ("crm", "finance"):
        for table in source_spec(source).tables:
            counts[table.raw_table] = _scalar(url, f"select count(*) from {table.raw_table}")
    return counts


def _raw_content(url: str) -> dict[str, list[tuple]]:
    """Every raw table as a sorted multiset of source columns (batch metadata left out)."""
    out = {}
    for source in ("crm", "finance"):
        for table in source_spec(source).tables:
            cols = ", ".join(table.columns)
            with transaction(url) as cur:
                cur.execute(f"select {cols} from {table.raw_table}")
                out[table.raw_table] = sorted(cur.fetchall(), key=repr)
    return out


def test_rerun_of_same_interval_adds_no_rows(warehouse_url):
    simulate(CUSTOMERS, START, _day(D0, -1), seed=3, dirty_rate=0.02, verbose=False)
    _initial_load(D0)
    simulate(CUSTOMERS, START, D0, seed=3, dirty_rate=0.02, verbose=False)
    _daily(D0)
    first = _raw_counts(warehouse_url)
    quarantined = _scalar(warehouse_url, "select count(*) from quarantine.rejected_rows")
    _daily(D0)
    _daily(D0)
    assert _raw_counts(warehouse_url) == first
    assert _scalar(warehouse_url, "select count(*) from quarantine.rejected_rows") == quarantined
    assert sum(first.values()) > 2_000
    # one audit row per (table, interval): 12 tables x 2 intervals
    assert _scalar(warehouse_url, "select count(*) from audit.batch_counts") == 24
    assert _scalar(warehouse_url, "select count(*) from audit.batch_counts where loaded > 0 "
                                  "and interval_start = %s", (D0,)) > 3


def test_backfilling_n_days_gives_the_same_raw_content_as_n_daily_runs(warehouse_url, pipeline_dbs, admin_url,
                                                                       monkeypatch):
    days = 6
    simulate(CUSTOMERS, START, _day(D0, days - 1), seed=5, dirty_rate=0.02, verbose=False)
    _initial_load(D0)
    for i in range(days):
        _daily(_day(D0, i))
    daily_content = _raw_content(warehouse_url)

    name = f"{pipeline_dbs.warehouse.rsplit('/', 1)[1]}_b"
    other = create_database(admin_url, name)
    try:
        migrate(other)
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", other)
        _initial_load(D0)
        for source in ("crm", "finance"):
            extract_interval(source, D0, _day(D0, days), verbose=False)  # the range as one batch
        assert _raw_content(other) == daily_content
        batches = _scalar(other, "select count(*) from audit.batch_counts where interval_start = %s", (D0,))
        assert batches == 12
        # and the day-by-day backfill helper gives the same again
        with transaction(other) as cur:
            cur.execute("truncate audit.batch_counts, quarantine.rejected_rows")
            for table in [*source_spec("crm").tables, *source_spec("finance").tables]:
                cur.execute(f"truncate {table.raw_table}")
        _initial_load(D0)
        backfill("crm", D0, _day(D0, days), verbose=False)
        backfill("finance", D0, _day(D0, days), verbose=False)
        assert _raw_content(other) == daily_content
    finally:
        monkeypatch.undo()
        drop_database(admin_url, name)
    assert sum(len(v) for v in daily_content.values()) > 2_000


def test_late_update_is_picked_up_by_the_interval_it_lands_in(warehouse_url):
    simulate(CUSTOMERS, START, _day(D0, -1), seed=11, verbose=False)
    _initial_load(D0)
    for i in range(12):  # the source advances one day, then that day is extracted
        simulate(CUSTOMERS, START, _day(D0, i), seed=11, verbose=False)
        _daily(_day(D0, i))
    with transaction(warehouse_url) as cur:
        # every row sits in the batch of its own updated_at, however old its event is
        cur.execute("select count(*) from raw_finance.payments where updated_at < _interval_start "
                    "or updated_at >= _interval_end")
        assert cur.fetchone()[0] == 0
        # payments booked days after they were made land in the interval of the booking
        cur.execute("select count(*) from raw_finance.payments where _interval_start >= %s "
                    "and payment_date < (_interval_start::date - 1)", (D0,))
        assert cur.fetchone()[0] > 0
        # a ticket opened and closed later has two versions, each in its own daily batch
        cur.execute("""
            select count(*) from raw_crm.tickets o join raw_crm.tickets p using (ticket_id)
            where o.closed_at is null and p.closed_at is not null and o._interval_start >= %s
              and p._interval_start > o._interval_start and p.updated_at > o.updated_at
        """, (D0,))
        assert cur.fetchone()[0] > 0


def test_each_kind_of_bad_row_is_quarantined_with_its_reason_and_counts_add_up(warehouse_url, pipeline_dbs):
    written = simulate(CUSTOMERS, START, _day(D0, -1), seed=7, dirty_rate=0.05, verbose=False)
    results = [*extract_interval("crm", HISTORY, D0, verbose=False),
               *extract_interval("finance", HISTORY, D0, verbose=False)]
    assert {r.source_table: r.extracted for r in results} == written  # every source row was read
    assert all(r.extracted == r.loaded + r.quarantined for r in results)
    with transaction(warehouse_url) as cur:
        cur.execute("select source_table, rule, count(*), min(reason) from quarantine.rejected_rows group by 1, 2")
        found = {(t, rule): (n, reason) for t, rule, n, reason in cur.fetchall()}
        cur.execute("select sum(extracted), sum(loaded), sum(quarantined) from audit.batch_counts")
        extracted, loaded, quarantined = cur.fetchone()
        cur.execute("select count(*) from quarantine.rejected_rows")
        assert cur.fetchone()[0] == quarantined
        cur.execute("select count(*) from raw_finance.invoices where amount < 0 or currency not in "
                    "('EUR','USD','GBP','CHF') or invoice_id is null or customer_id like 'CX%%' "
                    "or issue_date >= %s", (D0,))
        assert cur.fetchone()[0] == 0
        cur.execute("select count(*) from (select invoice_id from raw_finance.invoices "
                    "group by 1 having count(*) > 1) d")
        assert cur.fetchone()[0] == 0
    assert extracted == loaded + quarantined == sum(written.values())
    invoices = {rule: reason for (t, rule), (_, reason) in found.items() if t == "finance.invoices"}
    assert set(invoices) >= {"required", "non_negative", "allowed_values", "not_in_future", "duplicate_key",
                             "references"}
    assert invoices["non_negative"].startswith("amount is negative")
    assert invoices["allowed_values"].startswith("currency not in")
    assert invoices["references"].endswith("not found in crm.accounts")
    assert "invoice_id" in invoices["duplicate_key"]
    assert "after the interval end" in invoices["not_in_future"]
    assert invoices["required"] == "invoice_id is missing"


def test_source_outage_fails_cleanly_and_rerun_after_recovery_completes(warehouse_url, pipeline_dbs,
                                                                        monkeypatch):
    simulate(CUSTOMERS, START, _day(D0, -1), seed=2, verbose=False)
    extract_interval("crm", HISTORY, D0, verbose=False)
    monkeypatch.setenv("AIRFLOW_CONN_FINANCE_SOURCE", "postgresql://postgres@127.0.0.1:1/finance")
    with pytest.raises(SourceUnavailable, match=r"finance_source.*unreachable"):
        extract_interval("finance", HISTORY, D0, verbose=False)
    assert _scalar(warehouse_url, "select count(*) from audit.batch_counts where source_table like 'finance.%%'") == 0
    assert _scalar(warehouse_url, "select count(*) from raw_finance.invoices") == 0
    monkeypatch.setenv("AIRFLOW_CONN_FINANCE_SOURCE", pipeline_dbs.finance_source)
    results = extract_interval("finance", HISTORY, D0, verbose=False)
    assert len(results) == 7 and all(r.loaded > 0 for r in results if r.source_table == "finance.invoices")
    assert _scalar(warehouse_url, "select count(*) from audit.batch_counts where source_table like 'finance.%%'") == 7


def test_a_load_that_dies_midway_leaves_the_previous_batch_untouched(warehouse_url):
    simulate(CUSTOMERS, START, _day(D0, -1), seed=4, verbose=False)
    extract_interval("crm", HISTORY, D0, verbose=False)
    before = _scalar(warehouse_url, "select count(*) from raw_crm.activities")
    source = source_spec("crm")
    spec = source.table("activities")

    def dying_chunks():
        chunks = read_chunks(source, spec, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 7, 1, tzinfo=dt.UTC))
        yield next(iter(chunks))  # one real chunk reaches COPY ...
        raise psycopg2.OperationalError("server closed the connection unexpectedly")  # ... then the task dies

    start, end = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    with pytest.raises(psycopg2.OperationalError):
        load_batch(source, spec, start, end, dying_chunks(), warehouse_url)
    assert _scalar(warehouse_url, "select count(*) from raw_crm.activities") == before
    assert _scalar(warehouse_url, "select count(*) from audit.batch_counts where source_table = 'crm.activities'") == 1


def test_an_interval_overlapping_loaded_batches_is_refused_unless_it_covers_them(warehouse_url):
    simulate(CUSTOMERS, START, _day(D0, 2), seed=6, verbose=False)
    extract_interval("crm", HISTORY, D0, verbose=False)
    extract_interval("crm", D0, _day(D0), verbose=False)
    extract_interval("crm", _day(D0), _day(D0, 2), verbose=False)
    before = _raw_counts(warehouse_url)
    with pytest.raises(OverlappingBatch, match="overlaps"):
        extract_interval("crm", _day(D0), _day(D0, 3), tables=["accounts"], verbose=False)
    with pytest.raises(OverlappingBatch, match="partly"):
        half = dt.datetime.combine(_day(D0), dt.time(12), tzinfo=dt.UTC)
        extract_interval("crm", D0, half, tables=["accounts"],
                         replace_overlapping=True, verbose=False)
    extract_interval("crm", D0, _day(D0, 2), replace_overlapping=True, verbose=False)
    assert _raw_counts(warehouse_url) == before
    assert _scalar(warehouse_url, "select count(*) from audit.batch_counts where source_table = 'crm.accounts'") == 2



def test_a_parent_changed_after_the_interval_does_not_make_its_children_unknown(warehouse_url):
    # the source has moved 30 days past the interval: some accounts' latest versions lie after it
    simulate(CUSTOMERS, START, _day(D0, 30), seed=8, verbose=False)
    _initial_load(D0)
    changed_later = _scalar(warehouse_url, "select count(distinct customer_id) from raw_finance.invoices i "
                                           "where not exists (select 1 from raw_crm.accounts a "
                                           "where a.account_id = i.customer_id)")
    assert changed_later > 0  # children of those accounts were loaded although their parent is not in raw yet
    assert _scalar(warehouse_url, "select count(*) from quarantine.rejected_rows where rule = 'references'") == 0


KILLED_LOADER = """
import sys, time, datetime as dt
from ingest.connectors import read_chunks
from ingest.load import load_batch
from ingest.sources import source_spec
source = source_spec("crm")
spec = source.table("activities")
start, end = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
def chunks():
    for chunk in read_chunks(source, spec, start, end):
        yield chunk
        print("COPIED", flush=True)  # the chunk is in raw, uncommitted; now wait to be killed
        time.sleep(60)
load_batch(source, spec, start, end, chunks(), sys.argv[1])
"""


def test_a_task_killed_mid_load_leaves_no_partial_batch_and_a_rerun_completes(warehouse_url):
    import signal
    import subprocess
    import sys
    import time

    simulate(CUSTOMERS, START, _day(D0, -1), seed=4, verbose=False)
    child = subprocess.Popen([sys.executable, "-c", KILLED_LOADER, warehouse_url], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "COPIED"
        # the reader runs one chunk ahead of the COPY: wait until the COPY is done and the batch sits
        # uncommitted in its open transaction
        deadline = time.monotonic() + 30
        while _scalar(warehouse_url, "select count(*) from pg_stat_activity where datname = current_database()"
                                     " and state = 'idle in transaction'") != 1:
            assert time.monotonic() < deadline, "the loader never reached its open, uncommitted batch"
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)  # no cleanup, no rollback from the client: like an OOM kill
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    deadline = time.monotonic() + 30
    while _scalar(warehouse_url, "select count(*) from pg_stat_activity where datname = current_database() "
                                 "and pid <> pg_backend_pid()") and time.monotonic() < deadline:
        time.sleep(0.2)  # the server notices the dead client and rolls its transaction back
    assert _scalar(warehouse_url, "select count(*) from raw_crm.activities") == 0
    assert _scalar(warehouse_url, "select count(*) from audit.batch_counts") == 0
    results = extract_interval("crm", HISTORY, D0, verbose=False)
    activities = next(r for r in results if r.source_table == "crm.activities")
    assert activities.loaded > 0
    assert _scalar(warehouse_url, "select count(*) from raw_crm.activities") == activities.loaded
