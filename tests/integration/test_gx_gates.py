"""The GX quality gates on a real warehouse: clean batches pass, each corruption is caught by the
expectation meant for it, critical failures stop the run with a clear message, warnings do not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from common.warehouse import transaction
from expectations.gate import QualityGateFailed, run_gate
from tests.helpers.feature_mart import create_feature_mart
from tests.helpers.gates import failed, stored

START = datetime(2026, 3, 10, tzinfo=UTC)
END = START + timedelta(days=1)
PREV_START = START - timedelta(days=1)


@pytest.fixture(scope="module")
def shared_warehouse(admin_url: str) -> str:
    """One migrated warehouse for the cases below; each case uses its own interval / as_of_date."""
    import uuid

    from common.migrate import migrate
    from devtools.scratch import create_database, drop_database

    name = f"t_gx_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    migrate(url)
    insert_raw(url, "raw_crm.accounts", [account(1, start=PREV_START)], start=PREV_START)
    create_feature_mart(url, keyed=False)
    yield url
    drop_database(admin_url, name)


# --- data builders ------------------------------------------------------------------------------

def insert_raw(url: str, table: str, rows: list[dict], start: datetime = START) -> None:
    """Rows of one raw batch (the batch columns filled for the interval [start, start + 1 day))."""
    if not rows:
        return
    end = start + timedelta(days=1)
    batch = f"{table}:{start.date()}"
    full = [{**r, "_batch_id": batch, "_extracted_at": end, "_interval_start": start, "_interval_end": end}
            for r in rows]
    columns = sorted({k for r in full for k in r})
    with transaction(url) as cur:
        cur.executemany(
            f"insert into {table} ({', '.join(columns)}) values ({', '.join('%(' + c + ')s' for c in columns)})",
            [{c: r.get(c) for c in columns} for r in full],
        )


def account(i: int, start: datetime = START, **over) -> dict:
    t = start + timedelta(hours=1)
    return {"account_id": f"A{i}", "legal_name": f"Firm {i}", "industry": "retail", "region": "north",
            "size_band": "small", "status": "active", "created_at": t - timedelta(days=400),
            "updated_at": t, **over}


def invoice(i: int, start: datetime = START, customer: str = "A1", **over) -> dict:
    t = start + timedelta(hours=2)
    return {"invoice_id": f"I{i}", "customer_id": customer, "issue_date": start.date(),
            "due_date": start.date() + timedelta(days=30), "amount": 100 + i, "currency": "EUR",
            "status": "open", "created_at": t, "updated_at": t, **over}


def activity(i: int, start: datetime = START) -> dict:
    t = start + timedelta(hours=3)
    return {"activity_id": f"X{i}", "account_id": "A1", "activity_type": "call", "activity_at": t,
            "outcome": "positive", "created_at": t, "updated_at": t}


def payment(i: int, start: datetime = START) -> dict:
    t = start + timedelta(hours=4)
    return {"payment_id": f"P{i}", "invoice_id": "I1", "payment_date": start.date(), "amount": 50,
            "currency": "EUR", "created_at": t, "updated_at": t}


def clean_raw(url: str) -> None:
    insert_raw(url, "raw_crm.accounts", [account(i) for i in range(1, 6)])
    insert_raw(url, "raw_crm.activities", [activity(i) for i in range(1, 4)])
    insert_raw(url, "raw_finance.invoices", [invoice(i, customer=f"A{1 + i % 5}") for i in range(1, 11)])
    insert_raw(url, "raw_finance.payments", [payment(i) for i in range(1, 3)])


def gate_raw(url: str, stage: str) -> object:
    return run_gate(stage, interval_start=START, interval_end=END, url=url, run_id="test-run")


# --- raw batches --------------------------------------------------------------------------------

def test_clean_raw_batches_pass_and_every_result_is_stored(warehouse_url):
    clean_raw(warehouse_url)
    crm = gate_raw(warehouse_url, "raw_crm")
    finance = gate_raw(warehouse_url, "raw_finance")
    for result in (crm, finance):
        assert result.critical == 0 and result.warnings == 0, result.warning_messages
        assert result.evaluated > 0 and result.passed == result.evaluated
    assert len(crm.tables) == 5 and len(finance.tables) == 7
    rows = stored(warehouse_url, run_id="test-run")
    assert len(rows) == (crm.evaluated + crm.not_evaluated + finance.evaluated + finance.not_evaluated)
    assert {r["batch_key"] for r in rows} == {f"{START.isoformat()}/{END.isoformat()}"}
    assert Path(finance.data_docs).is_file() and Path(finance.data_docs).name == "index.html"


RAW_CORRUPTIONS = {
    # kind: (rows of this batch, expected failing (table, type, check, column))
    "missing_key": ([invoice(1), invoice(2, customer_id=None)],
                    ("raw_finance.invoices", "expect_column_values_to_not_be_null", "not_null", "customer_id")),
    "negative_amount": ([invoice(1), invoice(2, amount=-40)],
                        ("raw_finance.invoices", "expect_column_values_to_be_between", "range", "amount")),
    "unknown_currency": ([invoice(1), invoice(2, currency="XYZ")],
                         ("raw_finance.invoices", "expect_column_values_to_be_in_set", "allowed_values",
                          "currency")),
    "duplicate_in_batch": ([invoice(1), invoice(1)],
                           ("raw_finance.invoices", "expect_column_values_to_be_unique", "unique", "invoice_id")),
    "unknown_customer": ([invoice(1), invoice(2, customer="A999")],
                         ("raw_finance.invoices", "unexpected_rows_expectation", "referential", None)),
    "future_date": ([invoice(1), invoice(2, issue_date=date(2052, 3, 10), due_date=date(2052, 4, 10))],
                    ("raw_finance.invoices", "unexpected_rows_expectation", "future_date", None)),
    "outside_watermark": ([invoice(1), invoice(2, updated_at=START - timedelta(days=3))],
                          ("raw_finance.invoices", "unexpected_rows_expectation", "freshness", None)),
}


@pytest.mark.parametrize("kind", sorted(RAW_CORRUPTIONS))
def test_each_raw_corruption_is_caught_by_its_expectation(shared_warehouse, kind):
    url = shared_warehouse
    rows, expected = RAW_CORRUPTIONS[kind]
    start = START + timedelta(days=10 + sorted(RAW_CORRUPTIONS).index(kind))  # one interval per case
    insert_raw(url, "raw_finance.invoices", [_moved(r, start, kind) for r in rows], start=start)
    insert_raw(url, "raw_finance.payments", [_moved(payment(1), start, kind)], start=start)
    with pytest.raises(QualityGateFailed) as err:
        run_gate("raw_finance", interval_start=start, interval_end=start + timedelta(days=1), url=url,
                 run_id=f"case-{kind}")
    failures = [r for r in stored(url, run_id=f"case-{kind}") if r["success"] is False]
    assert {(r["table_name"], r["expectation_type"], r["check_kind"], r["column_name"], r["severity"])
            for r in failures} == {(*expected, "critical")}
    unexpected = 2 if kind == "duplicate_in_batch" else 1  # both rows of a duplicated key are unexpected
    assert failures[0]["unexpected_count"] == unexpected
    message = str(err.value)
    assert f"raw_finance.invoices: {expected[1]}" in message
    assert f"{unexpected} of 2 rows unexpected" in message or f"{unexpected} unexpected rows" in message


def _moved(row: dict, start: datetime, tag: str) -> dict:
    """A START-based row moved to another interval (dates shift alike, far-future typos stay) with
    ids of its own, so that cases sharing a warehouse are not duplicates of each other."""
    shift = start - START

    def move(key, value):
        if key in ("invoice_id", "payment_id"):
            return f"{tag}-{value}"
        if isinstance(value, date) and value.year < 2050:
            return value + shift
        return value

    return {k: move(k, v) for k, v in row.items()}


def test_duplicate_across_batches_is_caught(warehouse_url):
    insert_raw(warehouse_url, "raw_crm.accounts", [account(1)], start=PREV_START)
    old = invoice(7, start=PREV_START)
    insert_raw(warehouse_url, "raw_finance.invoices", [old], start=PREV_START)
    # the same version re-delivered a day later, next to a legitimately updated invoice
    newer = invoice(8, start=PREV_START)
    insert_raw(warehouse_url, "raw_finance.invoices", [newer], start=PREV_START)
    insert_raw(warehouse_url, "raw_finance.invoices",
               [old, {**newer, "updated_at": START + timedelta(hours=5)}])  # old keeps its timestamps
    insert_raw(warehouse_url, "raw_finance.payments", [payment(1)])
    with pytest.raises(QualityGateFailed, match="unexpected_rows_expectation"):
        gate_raw(warehouse_url, "raw_finance")
    failures = [r for r in stored(warehouse_url, stage="raw_finance") if r["success"] is False]
    # the watermark check also sees the stale updated_at; the duplicate check names the one row
    dup = [r for r in failures if r["check_kind"] == "unique"]
    assert len(dup) == 1 and dup[0]["unexpected_count"] == 1


def test_schema_drift_and_unknown_status_are_caught(warehouse_url):
    insert_raw(warehouse_url, "raw_crm.accounts", [account(1), account(2, status="zombie")])
    insert_raw(warehouse_url, "raw_crm.activities", [activity(1)])
    with transaction(warehouse_url) as cur:
        cur.execute("alter table raw_crm.contacts add column nickname text")
    with pytest.raises(QualityGateFailed) as err:
        gate_raw(warehouse_url, "raw_crm")
    assert failed(warehouse_url, "raw_crm") == {
        ("raw_crm.accounts", "expect_column_values_to_be_in_set", "allowed_values", "status", "critical"),
        ("raw_crm.contacts", "expect_table_columns_to_match_set", "schema", None, "critical"),
    }
    assert "nickname" in str(err.value)


def test_volume_drop_is_critical_and_a_smaller_change_only_warns(warehouse_url):
    insert_raw(warehouse_url, "raw_crm.accounts", [account(i) for i in range(1, 6)], start=PREV_START)
    insert_raw(warehouse_url, "raw_finance.invoices", [invoice(i, start=PREV_START) for i in range(100)],
               start=PREV_START)
    insert_raw(warehouse_url, "raw_finance.payments", [payment(1)])
    insert_raw(warehouse_url, "raw_finance.invoices", [invoice(1000 + i) for i in range(40)])
    result = gate_raw(warehouse_url, "raw_finance")  # 40 of 100: below the warning ratio 0.5, above 0.1
    assert result.critical == 0 and result.warnings == 1
    assert "raw_finance.invoices: expect_table_row_count_to_be_between [volume]" in result.warning_messages[0]

    with transaction(warehouse_url) as cur:
        cur.execute("delete from raw_finance.invoices where _interval_start = %s and invoice_id <> 'I1000'",
                    (START,))
    with pytest.raises(QualityGateFailed, match=r"raw_finance.invoices: expect_table_row_count_to_be_between"):
        gate_raw(warehouse_url, "raw_finance")  # 1 of 100: a collapse


def test_missing_batch_of_a_busy_table_is_a_freshness_warning(warehouse_url):
    clean_raw(warehouse_url)
    with transaction(warehouse_url) as cur:
        cur.execute("delete from raw_finance.payments")
    result = gate_raw(warehouse_url, "raw_finance")
    assert result.critical == 0
    assert failed(warehouse_url, "raw_finance") == {
        ("raw_finance.payments", "expect_column_max_to_be_between", "freshness", "updated_at", "warning")}


def test_gate_sees_only_its_interval(warehouse_url):
    clean_raw(warehouse_url)
    # an old batch with a bad row must not fail today's gate
    insert_raw(warehouse_url, "raw_finance.invoices", [invoice(900, start=PREV_START, amount=-1)],
               start=PREV_START)
    assert gate_raw(warehouse_url, "raw_finance").critical == 0
