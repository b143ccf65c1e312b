"""Row rules checked in Python before COPY: each failing row gets the first rule it breaks and a reason.

Set rules that need the whole batch or the warehouse (duplicate keys, references) run in SQL inside the
batch transaction instead (ingest.load).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingest.sources import TableSpec

NUMERIC_LIMIT = 1e16  # numeric(18,2) holds less; a larger value would abort the whole COPY
QUARANTINE_COLUMNS = ["rule", "reason", "row_data"]


@dataclass
class Checked:
    """A chunk split into rows to load (text columns) and rejected rows (rule, reason, row_data json)."""

    good: pd.DataFrame
    rejected: pd.DataFrame


def _last_allowed(interval_end: dt.datetime, tolerance_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Latest acceptable timestamp and latest acceptable date (as UTC midnight) for not_in_future."""
    limit = pd.Timestamp(interval_end).tz_convert("UTC") + pd.Timedelta(days=tolerance_days)
    last_day = (limit - pd.Timedelta(microseconds=1)).normalize()  # the interval's last (partial) day
    return limit, last_day


def check_rows(
    spec: TableSpec,
    frame: pd.DataFrame,
    interval_end: dt.datetime,
    tolerance_days: int = 0,
    interval_start: dt.datetime | None = None,
    late_days: int = 0,
) -> Checked:
    """Apply parse, required, non_negative, allowed_values and not_in_future rules to a text frame, and,
    given the interval start (file drops), the watermark's interval: from `late_days` before the start
    to the end plus `tolerance_days`."""
    frame = frame.reset_index(drop=True)
    rule = pd.Series(None, index=frame.index, dtype=object)
    reason = pd.Series(None, index=frame.index, dtype=object)

    def flag(mask: pd.Series, name: str, text: pd.Series | str) -> None:
        new = mask.fillna(False).astype(bool) & rule.isna()
        if new.any():
            rule[new] = name
            reason[new] = text[new] if isinstance(text, pd.Series) else text

    parsed: dict[str, pd.Series] = {}
    for col, sql_type in spec.columns.items():
        kind = spec.kind_of(col)
        raw = frame[col]
        if kind == "number":
            values = pd.to_numeric(raw, errors="coerce").astype("float64")
            bad = values.isna() | ~np.isfinite(values.fillna(0)) | (values.abs() >= NUMERIC_LIMIT)
            if sql_type.lower() in ("integer", "bigint", "smallint"):
                bad |= values.notna() & (values % 1 != 0)
        elif kind in ("date", "timestamp"):
            values = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
            bad = values.isna()
        else:
            continue
        parsed[col] = values
        flag(bad & raw.notna(), "unparseable_value", f"{col} is not a valid {sql_type}: " + raw.astype(str))

    for col in spec.required:
        raw = frame[col]
        flag(raw.isna() | (raw.astype(str).str.strip() == ""), "required", f"{col} is missing")
    for col in spec.non_negative:
        flag(parsed[col] < 0, "non_negative", f"{col} is negative: " + frame[col].astype(str))
    for col, allowed in spec.allowed_values.items():
        raw = frame[col]
        flag(
            raw.notna() & ~raw.isin(allowed),
            "allowed_values",
            f"{col} not in {list(allowed)}: " + raw.astype(str),
        )
    limit, last_day = _last_allowed(interval_end, tolerance_days)
    for col in spec.not_in_future:
        too_late = parsed[col] > (last_day if spec.kind_of(col) == "date" else limit)
        flag(
            too_late,
            "not_in_future",
            f"{col} is after the interval end {limit.isoformat()}: " + frame[col].astype(str),
        )

    if interval_start is not None and spec.watermark in parsed:
        earliest = pd.Timestamp(interval_start).tz_convert("UTC") - pd.Timedelta(days=late_days)
        watermark = parsed[spec.watermark]
        flag(
            (watermark < earliest) | (watermark >= limit),
            "watermark_outside_interval",
            f"{spec.watermark} is outside [{earliest.isoformat()}, {limit.isoformat()}): "
            + frame[spec.watermark].astype(str),
        )

    bad_rows = rule.notna()
    good = frame[~bad_rows].copy()
    for col, sql_type in spec.columns.items():
        if sql_type.lower() in ("integer", "bigint", "smallint") and len(good) and col in parsed:
            # "3.0" (a nullable int that went through a float) is fine as a value but not as COPY text
            ints = parsed[col][~bad_rows].astype("Int64")
            good[col] = ints.astype(str).where(ints.notna(), None).astype(object)
    rejected = pd.DataFrame(
        {
            "rule": rule[bad_rows].to_numpy(),
            "reason": reason[bad_rows].to_numpy(),
            "row_data": row_json(frame[bad_rows]),
        }
    )
    return Checked(good, rejected)


def row_json(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row, nulls as null, for quarantine.rejected_rows.row_data."""
    if frame.empty:
        return []
    text = frame.astype(object).to_json(orient="records", lines=True, force_ascii=False)
    # JSON escapes "\n" inside strings; str.splitlines would also split at U+0085, U+2028, ... in values
    return text.rstrip("\n").split("\n")


def unparseable_lines(lines: list[dict[str, Any]]) -> pd.DataFrame:
    """Quarantine rows for file lines that could not be loaded: wrong field count, or a field that is
    oversize, holds a NUL byte or is not UTF-8 (the connector names rule and reason with the line)."""
    return pd.DataFrame(
        {
            "rule": [d.get("rule", "unparseable_line") for d in lines],
            "reason": [
                d.get("reason")
                or f"line {d['line_no']} has {len(d['fields'])} fields, expected {d['expected_fields']}"
                for d in lines
            ],
            "row_data": [json.dumps(d, ensure_ascii=False) for d in lines],
        },
        columns=QUARANTINE_COLUMNS,
    )


# --- fast path: canonical PostgreSQL text from a SQL source, checked with Arrow string kernels ---------

# How PostgreSQL prints each kind of value (session time zone UTC, DateStyle ISO). A value in this form
# is valid for its type and compares correctly as a string; anything else takes the pandas path above.
CANONICAL = {
    "integer": r"^-?[0-9]+$",
    "number": r"^-?[0-9]+(\.[0-9]+)?$",
    "date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "timestamp": r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?\+00$",
}


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(bool)


def _pattern(spec: TableSpec, column: str) -> str | None:
    kind = spec.kind_of(column)
    if kind == "number" and spec.columns[column].lower() in ("integer", "bigint", "smallint"):
        return CANONICAL["integer"]
    return CANONICAL.get(kind)


def check_table(
    spec: TableSpec, table: pa.Table, interval_end: dt.datetime, tolerance_days: int = 0
) -> tuple[pa.Table, pd.DataFrame]:
    """The same rules as check_rows on an Arrow table of text; returns (rows to load, rejected rows).

    Rows whose typed values are all in canonical form are checked with string kernels (a date or UTC
    timestamp in ISO form orders like its text, a negative number starts with '-'); the rare other rows
    go through check_rows, which parses them.
    """
    canonical, other, rejected = check_table_parts(spec, table, interval_end, tolerance_days)
    return (pa.concat_tables([canonical, other]) if other.num_rows else canonical), rejected


def check_table_parts(
    spec: TableSpec, table: pa.Table, interval_end: dt.datetime, tolerance_days: int = 0
) -> tuple[pa.Table, pa.Table, pd.DataFrame]:
    """check_table, with the rows to load in two parts: those whose typed values are all in canonical
    form (the loader may send them in binary) and the others (parsed by check_rows, sent as text)."""
    n = table.num_rows
    odd = np.zeros(n, dtype=bool)
    for col in spec.columns:
        pattern = _pattern(spec, col)
        if pattern is not None:
            odd |= ~_mask(pc.match_substring_regex(table[col], pattern)) & _mask(pc.is_valid(table[col]))
    fast = table.filter(pa.array(~odd)) if odd.any() else table
    assigned = np.zeros(fast.num_rows, dtype=bool)
    found: list[tuple[np.ndarray, str, str, str | None]] = []  # rows, rule, reason prefix, value column

    def flag(mask: np.ndarray, rule: str, prefix: str, column: str | None) -> None:
        new = mask & ~assigned
        if new.any():
            found.append((np.flatnonzero(new), rule, prefix, column))
            assigned[new] = True

    for col in spec.required:
        values = fast[col]
        flag(
            _mask(pc.is_null(values)) | _mask(pc.equal(pc.utf8_trim_whitespace(values), "")),
            "required",
            f"{col} is missing",
            None,
        )
    for col in spec.non_negative:
        flag(_mask(pc.starts_with(fast[col], "-")), "non_negative", f"{col} is negative: ", col)
    for col, allowed in spec.allowed_values.items():
        values = fast[col]
        flag(
            _mask(pc.is_valid(values)) & ~_mask(pc.is_in(values, value_set=pa.array(allowed, pa.string()))),
            "allowed_values",
            f"{col} not in {list(allowed)}: ",
            col,
        )
    limit, last_day = _last_allowed(interval_end, tolerance_days)
    for col in spec.not_in_future:
        bound = (
            last_day.strftime("%Y-%m-%d")
            if spec.kind_of(col) == "date"
            else limit.strftime("%Y-%m-%d %H:%M:%S") + "+00"
        )
        flag(
            _mask(pc.greater(fast[col], bound)),
            "not_in_future",
            f"{col} is after the interval end {limit.isoformat()}: ",
            col,
        )

    parts = []
    for rows, rule, prefix, column in found:
        bad = fast.take(pa.array(rows)).to_pandas()
        reason = [prefix] * len(bad) if column is None else [prefix + str(v) for v in bad[column]]
        parts.append(pd.DataFrame({"rule": rule, "reason": reason, "row_data": row_json(bad)}))
    good = fast.filter(pa.array(~assigned)) if assigned.any() else fast
    other = table.schema.empty_table()
    if odd.any():
        slow = check_rows(spec, table.filter(pa.array(odd)).to_pandas(), interval_end, tolerance_days)
        other = as_text_table(slow.good, list(spec.columns)).cast(table.schema)
        parts.append(slow.rejected)
    rejected = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    return good, other, rejected


def as_text_table(frame: pd.DataFrame, columns: list[str]) -> pa.Table:
    """A pandas frame of text values as an Arrow table with string columns (nulls kept)."""
    arrays = [
        pa.array(frame[c].astype(object).where(frame[c].notna(), None).tolist(), pa.string()) for c in columns
    ]
    return pa.Table.from_arrays(arrays, names=columns)
