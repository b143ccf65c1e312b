"""The raw loader's fast paths give what the plain paths give: binary COPY vs CSV, deferred indexes,
in-memory vs per-value reference lookups, and a source streamed while it is read (real PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from common.warehouse import transaction
from devtools.simulator import simulate
from ingest import load as loader
from ingest import pgbinary
from ingest.extract import extract_interval
from ingest.sources import source_spec

START = dt.date(2024, 1, 1)
HISTORY = dt.date(2000, 1, 1)
D0 = dt.date(2024, 7, 1)
CUSTOMERS = 250


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with transaction(url) as cur:
        cur.execute(query, params)
        return sorted(cur.fetchall(), key=repr)


def _raw_and_quarantine(url: str) -> dict[str, list[tuple]]:
    """Every raw table (source columns and batch keys, as text) plus quarantine and audit."""
    state = {}
    for source in ("crm", "finance"):
        for table in source_spec(source).tables:
            cols = ", ".join([*table.columns, "_batch_id", "_interval_start", "_interval_end"])
            state[table.raw_table] = _rows(url, f"select ({cols})::text from {table.raw_table}")
    state["quarantine"] = _rows(url, "select batch_id, rule, reason, row_data::text from quarantine.rejected_rows")
    state["audit"] = _rows(url, "select batch_id, extracted, loaded, quarantined from audit.batch_counts")
    return state


EDGE_VALUES = {
    "t": ["plain", "", None, 'quo"te, comma\nline break', "é ü 漢字", "\\N", "x" * 300],
    "i": ["0", "-0", "2147483647", "-2147483648", None, "007", "42"],
    "b": ["9223372036854775807", "-9223372036854775808", None, "0", "1", "-1", "123456789012"],
    "n": ["0", "-0", "-0.00", "1.5", "-123.45", "9999999999999999.99", None],
    "n0": ["0", "-1", "99999", None, "12", "007", "5"],
    "n6": ["0.000001", "-0.5", "123456.123456", "1", None, "-0.000010", "000123.4"],
    "d": ["2024-01-01", "0001-01-01", "9999-12-31", None, "2000-01-01", "1999-12-31", "2024-02-29"],
    "ts": ["2024-01-01 10:00:00+00", "2024-01-01 10:00:00.5+00", "0001-01-01 00:00:00.123456+00", None,
           "1999-12-31 23:59:59.999999+00", "2000-01-01 00:00:00+00", "9999-12-31 23:59:59+00"],
    "v": ["a", None, "", "b", "c", "d", "e"],
}
EDGE_TYPES = {"t": "text", "i": "integer", "b": "bigint", "n": "numeric(18,2)", "n0": "numeric(5)",
              "n6": "numeric(12,6)", "d": "date", "ts": "timestamptz", "v": "varchar(20)"}


def test_binary_copy_stores_exactly_what_the_text_copy_stores(warehouse_url):
    table = pa.table({k: pa.array(v, pa.string()) for k, v in EDGE_VALUES.items()})
    extracted_at = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    constants = pgbinary.constant_cells([("crm.x/batch", "text"), (extracted_at, "timestamptz")])
    columns = ", ".join(f"{k} {t}" for k, t in EDGE_TYPES.items())
    with transaction(warehouse_url) as cur:
        cur.execute("set local timezone = 'UTC'")
        cur.execute(f"create temp table via_binary ({columns}, batch text, extracted_at timestamptz)")
        cur.execute(f"create temp table via_text ({columns}, batch text, extracted_at timestamptz)")
        cur.copy_expert("copy via_binary from stdin with (format binary)",
                        io.BytesIO(pgbinary.encode(table, EDGE_TYPES, constants, 2)))
        text = io.BytesIO()
        pacsv.write_csv(table, text, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        text.seek(0)
        cur.copy_expert(f"copy via_text ({', '.join(EDGE_TYPES)}) from stdin with (format csv)", text)
        cur.execute("update via_text set batch = 'crm.x/batch', extracted_at = %s", (extracted_at,))
        cur.execute("select rb::text from via_binary rb except all select rt::text from via_text rt")
        assert cur.fetchall() == []
        cur.execute("select rt::text from via_text rt except all select rb::text from via_binary rb")
        assert cur.fetchall() == []
        cur.execute("select count(*) from via_binary")
        assert cur.fetchone()[0] == len(EDGE_VALUES["t"])


@pytest.mark.parametrize(("column", "value"), [
    ("d", "0000-01-01"),  # no year 0 in PostgreSQL
    ("ts", "2024-01-01 10:00:00.1234567+00"),  # PostgreSQL rounds to microseconds
    ("i", "2147483648"),  # out of range: the server's text input must say so
    ("n", "1.234"),  # more decimals than the type: the server rounds
    ("d", "2024-02-30"),
])
def test_values_the_binary_form_could_get_wrong_are_left_to_the_text_path(column, value):
    table = pa.table({k: pa.array(v[:1], pa.string()) for k, v in EDGE_VALUES.items()})
    table = table.set_column(table.column_names.index(column), column, pa.array([value], pa.string()))
    with pytest.raises(pgbinary.NotEncodable):
        pgbinary.encode(table, EDGE_TYPES)


def test_fast_paths_load_the_same_raw_quarantine_and_audit_as_the_plain_paths(warehouse_url, monkeypatch):
    simulate(CUSTOMERS, START, _day(D0, 1), seed=7, dirty_rate=0.05, verbose=False)

    def load_all() -> dict[str, list[tuple]]:
        for source in ("crm", "finance"):
            extract_interval(source, HISTORY, D0, verbose=False)
            extract_interval(source, D0, _day(D0), verbose=False)
        return _raw_and_quarantine(warehouse_url)

    fast = load_all()
    assert fast["quarantine"] and all(fast[t] for t in fast if t.startswith("raw_"))
    # the plain paths: text COPY only, every reference asked of the warehouse, indexes kept throughout
    monkeypatch.setattr(loader.pgbinary, "supports", lambda sql_type: False)
    monkeypatch.setattr(loader._Parents, "LOCAL_PARENT_ROWS", -1)
    monkeypatch.setattr(loader, "_defer_indexes", lambda cur, spec, batch_id: [])
    with transaction(warehouse_url) as cur:  # back to an empty warehouse
        cur.execute("delete from audit.batch_counts; delete from quarantine.rejected_rows")
        for source in ("crm", "finance"):
            for table in source_spec(source).tables:
                cur.execute(f"truncate {table.raw_table}")
    assert load_all() == fast


def _indexes(url: str) -> list[tuple]:
    return _rows(url, "select schemaname, tablename, indexname, indexdef from pg_indexes "
                      "where schemaname in ('raw_crm', 'raw_finance')")


def _oids(url: str) -> list[tuple]:
    return _rows(url, "select indexrelid::regclass::text, indexrelid::int from pg_index "
                      "where indrelid in ('raw_crm.accounts'::regclass, 'raw_finance.invoices'::regclass)")


def test_a_first_load_builds_the_key_indexes_after_the_copy_and_later_loads_keep_them(warehouse_url,
                                                                                       monkeypatch):
    simulate(CUSTOMERS, START, _day(D0, 1), seed=3, verbose=False)
    before = _indexes(warehouse_url)
    assert any(name == "accounts_key_idx" for _, _, name, _ in before)
    assert any(name == "invoices_key_idx" for _, _, name, _ in before)
    deferred: dict[str, list[str]] = {}
    defer = loader._defer_indexes

    def spy(cur, spec, batch_id):
        deferred[spec.raw_table] = defer(cur, spec, batch_id)
        return deferred[spec.raw_table]

    monkeypatch.setattr(loader, "_defer_indexes", spy)
    for source in ("crm", "finance"):
        extract_interval(source, HISTORY, D0, verbose=False)
    # every raw table: its key, _interval_start and _extracted_at B-trees (015, 016), built after the COPY
    assert {t: len(d) for t, d in deferred.items() if d} == {t: 3 for t in deferred}
    assert len(deferred) == 12
    with transaction(warehouse_url) as cur:  # a first load leaves planner statistics on every raw table
        cur.execute("select count(distinct schemaname || '.' || tablename) from pg_stats "
                    "where schemaname in ('raw_crm', 'raw_finance')")
        assert cur.fetchone()[0] == 12
    assert _indexes(warehouse_url) == before  # same names, same definitions
    oids = _oids(warehouse_url)
    deferred.clear()
    for source in ("crm", "finance"):
        extract_interval(source, D0, _day(D0), verbose=False)  # other batches exist: maintained in place
    assert _oids(warehouse_url) == oids
    for source in ("crm", "finance"):
        extract_interval(source, HISTORY, D0, verbose=False)  # a rerun of the first interval, others loaded
    assert _oids(warehouse_url) == oids
    assert not any(deferred.values())
    with transaction(warehouse_url) as cur:  # the index is used and complete
        cur.execute("set local enable_seqscan = off")
        cur.execute("select count(*) from raw_crm.accounts where account_id = any(select account_id "
                    "from raw_crm.accounts)")
        by_index = cur.fetchone()[0]
        cur.execute("reset enable_seqscan")
        cur.execute("select count(*) from raw_crm.accounts a join raw_crm.accounts b using (account_id)")
        assert by_index == cur.fetchone()[0] > 0


def test_a_source_value_with_a_line_break_and_quotes_loads_unchanged(warehouse_url, pipeline_dbs):
    simulate(CUSTOMERS, START, _day(D0, -1), seed=5, verbose=False)
    with transaction(pipeline_dbs.crm_source) as cur:
        cur.execute("update crm.accounts set legal_name = %s where account_id = "
                    "(select min(account_id) from crm.accounts)", ('Smith "&" Sons,\nLtd.\r\n',))
    results = extract_interval("crm", HISTORY, D0, tables=["accounts"], verbose=False)
    assert results[0].extracted == results[0].loaded + results[0].quarantined
    assert _rows(warehouse_url, "select legal_name from raw_crm.accounts where legal_name like 'Smith%%'") == [
        ('Smith "&" Sons,\nLtd.\r\n',)]


def _day(d: dt.date, n: int = 1) -> dt.date:
    return d + dt.timedelta(days=n)


def test_keys_asked_of_the_warehouse_arrive_as_sent(warehouse_url):
    keys = ["plain", 'quo"te', "back\\slash", "comma,brace}{", "", "NULL", " spaced ", "é", "line\nbreak"]
    with transaction(warehouse_url) as cur:
        cur.execute("select unnest(%s::text[])", (loader._text_array(pa.array(keys)),))
        assert [row[0] for row in cur.fetchall()] == keys


def test_parent_keys_held_in_memory_find_exactly_the_absent_values():
    present = pa.array(["C1", "C22", "", "é", "C333"])
    keys = loader._KeySet(present)
    asked = pa.array(["C1", "C2", "", "C3330", "é", "a much longer value than any key", "C333"])
    assert keys.missing(asked).to_pylist() == ["C2", "C3330", "a much longer value than any key"]
    assert loader._KeySet(pa.array([], pa.string())).missing(pa.array(["x"])).to_pylist() == ["x"]
    assert not loader._KeySet(pa.array(["k" * 100])).usable  # too long to hold: the warehouse is asked
