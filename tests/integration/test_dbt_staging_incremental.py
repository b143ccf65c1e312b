"""The staging history tables built incrementally (daily) equal a full refresh after any sequence of
loads: new days, several days between two runs, a reload of a day whose source rows changed or
disappeared, and a wider load that replaces the daily batches it covers."""

from __future__ import annotations

import datetime as dt

from common.dbt import run_dbt
from common.transform import rebuild_staging_history
from common.warehouse import transaction
from devtools.simulator import simulate
from ingest.extract import extract_interval
from tests.helpers.sql import fetch

START = dt.date(2024, 1, 1)
HISTORY = dt.date(2000, 1, 1)
AS_OF = dt.date(2024, 9, 30)
CUSTOMERS = 120
SEED = 22  # a seed whose book issues invoices on day 2 (the reload below deletes one)
STAGING = ["--select", "staging"]


def _history_tables(url: str) -> list[str]:
    rows = fetch(url, "select table_name from information_schema.tables where table_schema = 'staging' "
                      "and table_name like '%%\\_history' and table_type = 'BASE TABLE' order by 1")
    return [r[0] for r in rows]


def _contents(url: str) -> dict[str, list[tuple]]:
    out = {}
    for table in _history_tables(url):
        out[table] = fetch(url, f"select * from staging.{table} order by 1, valid_from_date")  # noqa: S608
    return out


def _day(n: int) -> dt.date:
    return AS_OF + dt.timedelta(days=n)


def _extract(start: dt.date, end: dt.date, replace_overlapping: bool = False) -> None:
    for source in ("crm", "finance"):
        extract_interval(source, start, end, replace_overlapping=replace_overlapping, verbose=False)


def _incremental(url: str) -> None:
    run_dbt(["run", *STAGING], conn_id_or_url=url)


def _assert_equals_full_refresh(url: str) -> dict[str, list[tuple]]:
    incremental = _contents(url)
    run_dbt(["run", "--full-refresh", *STAGING], conn_id_or_url=url)
    full = _contents(url)
    assert set(incremental) == set(full)
    for table, rows in full.items():
        assert incremental[table] == rows, f"staging.{table}: incremental build differs from a full refresh"
    return full


def test_incremental_history_equals_full_refresh_through_loads_and_reloads(pipeline_dbs, warehouse_url):
    simulate(CUSTOMERS, START, AS_OF, seed=SEED, verbose=False)
    _extract(HISTORY, _day(1))
    run_dbt(["seed"], conn_id_or_url=warehouse_url)
    rebuild_staging_history(warehouse_url)  # what `python -m common.transform rebuild-staging-history` runs
    tables = _history_tables(warehouse_url)
    assert "invoice_history" in " ".join(tables) and len(tables) == 11  # every history model is a table

    # one new day, then two days loaded between two runs
    for n in (1, 2, 3):
        simulate(CUSTOMERS, START, _day(n), seed=SEED, verbose=False)
        _extract(_day(n), _day(n + 1))
        if n != 2:
            _incremental(warehouse_url)
    full = _assert_equals_full_refresh(warehouse_url)
    day_two = fetch(warehouse_url, "select count(*) from staging.stg_finance__invoice_history "
                                   "where valid_from_date = %s", (_day(2),))[0][0]
    assert day_two > 0  # the days loaded between runs reached the history

    # the finance source changes day 2 after the fact: an invoice created that day disappears, an older
    # one gets a different status that day; day 2 is reloaded (its batches are replaced)
    with transaction(pipeline_dbs.finance_source) as cur:
        cur.execute("""
            select invoice_id from finance.invoices
            where updated_at >= %(d)s and updated_at < %(e)s and created_at >= %(d)s
            order by invoice_id limit 1""", {"d": _day(2), "e": _day(3)})
        gone = cur.fetchone()[0]
        cur.execute("delete from finance.payments where invoice_id = %s", (gone,))
        cur.execute("delete from finance.credit_notes where invoice_id = %s", (gone,))
        cur.execute("delete from finance.disputes where invoice_id = %s", (gone,))
        cur.execute("delete from finance.invoices where invoice_id = %s", (gone,))
        # (the simulated ledger never rewrites an invoice but to cancel it: this one is cancelled on day 2)
        cur.execute("""
            update finance.invoices set status = 'cancelled', updated_at = %(d)s + interval '12 hours'
            where invoice_id = (select invoice_id from finance.invoices
                                where status = 'open' and created_at < %(d)s - interval '1 day'
                                order by invoice_id limit 1)
            returning invoice_id""", {"d": _day(2), "e": _day(3)})
        changed = cur.fetchone()[0]
    assert any(r[0] == gone for r in full["stg_finance__invoice_history"])
    extract_interval("finance", _day(2), _day(3), verbose=False)
    _incremental(warehouse_url)
    full = _assert_equals_full_refresh(warehouse_url)
    invoices = full["stg_finance__invoice_history"]
    assert not any(r[0] == gone for r in invoices)  # the vanished invoice left no version behind
    assert fetch(warehouse_url, "select status from staging.stg_finance__invoice_history where invoice_id = %s"
                                " order by valid_from_date desc limit 1", (changed,)) == [("cancelled",)]

    # one wider load replaces the three daily batches it covers
    _extract(_day(1), _day(4), replace_overlapping=True)
    _incremental(warehouse_url)
    _assert_equals_full_refresh(warehouse_url)
