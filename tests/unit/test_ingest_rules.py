"""Row rules, config parsing and the simulator's determinism, without a database."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from devtools.simulator.clock import Clock
from devtools.simulator.customers import draw_customers
from devtools.simulator.write import chunk_tables
from ingest.connectors import landing_days
from ingest.load import batch_id_for
from ingest.sources import load_sources, raw_ddl, source_spec
from ingest.validate import check_rows, unparseable_lines

END = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)


def _invoices(**overrides: list) -> pd.DataFrame:
    base = {
        "invoice_id": ["I1"], "customer_id": ["C0000001"], "issue_date": ["2025-01-01"],
        "due_date": ["2025-01-31"], "amount": ["100.50"], "currency": ["EUR"], "status": ["open"],
        "created_at": ["2025-01-01 10:00:00+00"], "updated_at": ["2025-01-01 10:00:00+00"],
    }
    base.update(overrides)
    return pd.DataFrame(base, dtype=object)


@pytest.mark.parametrize(
    ("override", "rule", "reason"),
    [
        ({"invoice_id": [None]}, "required", "invoice_id is missing"),
        ({"customer_id": ["  "]}, "required", "customer_id is missing"),
        ({"amount": ["-5"]}, "non_negative", "amount is negative: -5"),
        ({"currency": ["XXX"]}, "allowed_values", "currency not in ['EUR', 'USD', 'GBP', 'CHF']: XXX"),
        ({"issue_date": ["2025-01-02"]}, "not_in_future", "issue_date is after the interval end"),
        ({"created_at": ["2025-01-02 00:00:01+00"]}, "not_in_future", "created_at is after the interval end"),
        ({"amount": ["12,5"]}, "unparseable_value", "amount is not a valid numeric(18,2): 12,5"),
        ({"amount": ["inf"]}, "unparseable_value", "amount is not a valid"),
        ({"issue_date": ["2025-13-45"]}, "unparseable_value", "issue_date is not a valid date"),
    ],
)
def test_each_row_rule_rejects_with_its_reason(override, rule, reason):
    spec = source_spec("finance").table("invoices")
    checked = check_rows(spec, _invoices(**override), END)
    assert checked.good.empty
    assert list(checked.rejected["rule"]) == [rule]
    assert checked.rejected["reason"].iloc[0].startswith(reason)
    assert '"invoice_id"' in checked.rejected["row_data"].iloc[0]  # the whole row is kept as json


def test_a_valid_row_passes_and_the_last_day_of_the_interval_is_not_future():
    spec = source_spec("finance").table("invoices")
    checked = check_rows(spec, _invoices(created_at=["2025-01-01 23:59:59+00"]), END)
    assert len(checked.good) == 1 and checked.rejected.empty


def test_the_first_broken_rule_wins_and_integers_are_written_canonically():
    spec = source_spec("crm").table("tickets")
    frame = pd.DataFrame({
        "ticket_id": ["T1", "T2"], "account_id": ["C1", "C1"], "category": ["complaint"] * 2,
        "severity": ["3.0", "2.5"], "opened_at": ["2025-01-01T08:00:00Z"] * 2, "closed_at": [None, None],
        "created_at": ["2025-01-01T08:00:00Z"] * 2, "updated_at": ["2025-01-01T08:00:00Z"] * 2,
    }, dtype=object)
    checked = check_rows(spec, frame, END)
    assert list(checked.good["severity"]) == ["3"]
    assert list(checked.rejected["rule"]) == ["unparseable_value"]


def test_unparseable_lines_become_quarantine_rows():
    rows = unparseable_lines([{"file": "x.csv", "line_no": 4, "fields": ["a", "b"], "expected_fields": 9}])
    assert list(rows["rule"]) == ["unparseable_line"]
    assert rows["reason"].iloc[0] == "line 4 has 2 fields, expected 9"


def test_config_lists_both_sources_with_references_to_configured_tables():
    sources = load_sources()
    assert [t.name for t in sources["crm"].tables][0] == "accounts"  # referenced tables load first
    for source in sources.values():
        for table in source.tables:
            for target in table.references.values():
                ref_source, ref_table = target.split(".")
                sources[ref_source].table(ref_table)
    assert sources["finance"].connection == "finance_source"


def test_raw_migration_matches_the_config():
    from common.paths import MIGRATIONS_DIR

    assert raw_ddl() in (MIGRATIONS_DIR / "010_raw.sql").read_text()


def test_batch_id_is_deterministic_per_table_and_interval():
    spec = source_spec("crm").table("accounts")
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert batch_id_for(spec, start, END) == "crm.accounts/20250101T000000Z-20250102T000000Z"


def test_file_drop_intervals_cover_whole_days():
    assert landing_days(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 3, tzinfo=dt.UTC)) == [
        dt.date(2025, 1, 1), dt.date(2025, 1, 2)]
    with pytest.raises(ValueError, match="midnight"):
        landing_days(dt.datetime(2025, 1, 1, 6, tzinfo=dt.UTC), END)


def _tables(seed: int, end: dt.date, n: int = 300) -> dict[str, pd.DataFrame]:
    start = dt.date(2024, 1, 1)
    rng = np.random.default_rng([seed, 0])
    customers = draw_customers(rng, 1, n)
    cut = float((end - start).days + 1)
    return chunk_tables(rng, customers, Clock(start), cut)


def test_simulator_is_deterministic_per_seed():
    a, b = _tables(9, dt.date(2024, 9, 30)), _tables(9, dt.date(2024, 9, 30))
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not _tables(10, dt.date(2024, 9, 30))["invoices"].equals(a["invoices"])


def test_a_later_end_only_adds_rows_and_advances_rows_changed_since():
    early, late = _tables(9, dt.date(2024, 6, 30)), _tables(9, dt.date(2024, 9, 30))
    cut = pd.Timestamp("2024-07-01")
    for name, frame in early.items():
        key = source_spec("crm" if name in ("accounts", "contacts", "activities", "tickets", "opportunities")
                          else "finance").table(name).primary_key
        later = late[name].set_index(key)
        assert set(frame[key]) <= set(later.index), name
        assert (frame["updated_at"] < cut).all(), name
        # a row not touched after the early end is identical in the later source
        same = frame.set_index(key)
        untouched = later.loc[same.index][later.loc[same.index, "updated_at"] < cut]
        pd.testing.assert_frame_equal(untouched, same.loc[untouched.index], check_dtype=False)
    changed = late["disputes"].set_index("dispute_id").loc[early["disputes"]["dispute_id"]]
    assert (changed["updated_at"] >= cut).any()  # late updates exist (disputes resolved later)


def test_defaults_are_rare_but_follow_latent_risk():
    rng = np.random.default_rng([1, 0])
    c = draw_customers(rng, 1, 20_000)
    in_year = c.default_day < c.w0 + 365
    assert 0.03 <= in_year.mean() <= 0.07
    assert in_year[c.z > 1].mean() > 3 * in_year[c.z < 0].mean()


def test_the_arrow_fast_path_agrees_with_the_pandas_rules():
    import pyarrow as pa

    from ingest.validate import check_table

    spec = source_spec("finance").table("invoices")
    frame = pd.concat([
        _invoices(),
        _invoices(invoice_id=["I2"], amount=["-5.00"]),
        _invoices(invoice_id=["I3"], currency=["XXX"]),
        _invoices(invoice_id=[None]),
        _invoices(invoice_id=["I5"], issue_date=["2025-01-02"]),
        _invoices(invoice_id=["I6"], created_at=["2025-01-02 00:00:00.5+00"]),
        _invoices(invoice_id=["I7"], created_at=["2025-01-01T23:00:00-02:00"]),  # not canonical: slow path
        _invoices(invoice_id=["I8"], amount=["12,5"]),
    ], ignore_index=True)
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(
        pa.schema([pa.field(c, pa.string()) for c in frame.columns]))
    good, rejected = check_table(spec, table, END)
    slow = check_rows(spec, frame, END)
    assert sorted(good["invoice_id"].to_pylist()) == sorted(slow.good["invoice_id"]) == ["I1"]
    assert sorted(rejected["rule"]) == sorted(slow.rejected["rule"]) == sorted(
        ["non_negative", "allowed_values", "required", "not_in_future", "not_in_future", "not_in_future",
         "unparseable_value"])


def test_prefetched_keeps_order_and_reraises_worker_errors():
    from ingest.load import prefetched

    assert list(prefetched(range(10), lambda x: x * x)) == [x * x for x in range(10)]

    def boom(x: int) -> int:
        if x == 3:
            raise RuntimeError("source died")
        return x

    seen = []
    with pytest.raises(RuntimeError, match="source died"):
        for value in prefetched(range(10), boom):
            seen.append(value)
    assert seen == [0, 1, 2]
    early = prefetched(range(1000), lambda x: x)
    assert next(early) == 0
    early.close()  # a consumer that stops early stops the worker too


def test_the_canonical_part_and_the_parsed_part_together_are_what_check_table_loads():
    import pyarrow as pa

    from ingest.validate import check_table, check_table_parts

    spec = source_spec("finance").table("invoices")
    frame = pd.concat([
        _invoices(),
        _invoices(invoice_id=["I2"], amount=["-5.00"]),
        _invoices(invoice_id=["I3"], created_at=["2025-01-01T20:00:00-02:00"]),  # valid, not canonical
        _invoices(invoice_id=["I4"], amount=["12,5"]),
    ], ignore_index=True)
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(
        pa.schema([pa.field(c, pa.string()) for c in frame.columns]))
    canonical, other, rejected = check_table_parts(spec, table, END)
    good, rejected_too = check_table(spec, table, END)
    assert canonical["invoice_id"].to_pylist() == ["I1"]
    assert other["invoice_id"].to_pylist() == ["I3"] and other.schema == table.schema
    assert good.to_pylist() == canonical.to_pylist() + other.to_pylist()
    assert sorted(rejected["rule"]) == sorted(rejected_too["rule"]) == ["non_negative", "unparseable_value"]
