"""The raw loader: one (table, data interval) batch replaced atomically with COPY, quarantine and audit.

A batch is all-or-nothing: the old rows of the interval, the new raw rows, their quarantined rows and the
audit counts change in one warehouse transaction, so a task killed mid-load leaves the previous state.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import psycopg2.extensions
from psycopg2 import sql

from common.warehouse import WAREHOUSE, copy_rows, transaction
from ingest.connectors import Chunk
from ingest.sources import BATCH_COLUMNS, SourceSpec, TableSpec, load_sources
from ingest.validate import check_rows, unparseable_lines

QUARANTINE_TABLE = "quarantine.rejected_rows"
QUARANTINE_COPY = ["batch_id", "source_table", "rule", "reason", "row_data", "interval_start", "interval_end"]


class OverlappingBatch(RuntimeError):
    """The interval overlaps batches of other intervals; loading it would duplicate rows."""


class CountMismatch(RuntimeError):
    """extracted != loaded + quarantined: something was lost, so the batch is not committed."""


@dataclass(frozen=True)
class BatchResult:
    """What one batch did: the audit row, plus how long it took."""

    batch_id: str
    source_table: str
    interval_start: dt.datetime
    interval_end: dt.datetime
    extracted: int
    loaded: int
    quarantined: int
    seconds: float


def batch_id_for(spec: TableSpec, start: dt.datetime, end: dt.datetime) -> str:
    """Deterministic per (table, interval), so a rerun finds and replaces its own batch."""
    return f"{spec.qualified}/{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"


def _delete_batches(cur: psycopg2.extensions.cursor, spec: TableSpec, batch_ids: list[str]) -> None:
    raw = sql.Identifier(spec.raw_schema, spec.name)
    cur.execute(sql.SQL("delete from {} where _batch_id = any(%s)").format(raw), (batch_ids,))
    cur.execute("delete from quarantine.rejected_rows where batch_id = any(%s)", (batch_ids,))
    cur.execute("delete from audit.batch_counts where batch_id = any(%s)", (batch_ids,))


def _clear_overlaps(cur: psycopg2.extensions.cursor, spec: TableSpec, batch_id: str, start: dt.datetime,
                    end: dt.datetime, replace_overlapping: bool) -> None:
    """Refuse an interval that overlaps other batches, unless asked to replace ones it fully covers."""
    cur.execute(
        "select batch_id, interval_start, interval_end from audit.batch_counts"
        " where source_table = %s and interval_start < %s and interval_end > %s and batch_id <> %s"
        " order by interval_start",
        (spec.qualified, end, start, batch_id),
    )
    overlaps = cur.fetchall()
    if not overlaps:
        return
    covered = all(s >= start and e <= end for _, s, e in overlaps)
    if replace_overlapping and covered:
        _delete_batches(cur, spec, [b for b, _, _ in overlaps])
        return
    shown = ", ".join(f"[{s:%Y-%m-%d %H:%M}, {e:%Y-%m-%d %H:%M})" for _, s, e in overlaps[:5])
    hint = ("rerun exactly those intervals, or load a range that covers them whole with replace_overlapping"
            if covered or not replace_overlapping else "a partly overlapping batch cannot be replaced")
    raise OverlappingBatch(
        f"{spec.qualified}: interval [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) overlaps "
        f"{len(overlaps)} loaded batch(es) {shown}: {hint}"
    )


def _quarantine(cur: psycopg2.extensions.cursor, rejected: pd.DataFrame, batch_id: str, spec: TableSpec,
                start: dt.datetime, end: dt.datetime) -> int:
    if rejected.empty:
        return 0
    frame = rejected.assign(batch_id=batch_id, source_table=spec.qualified, interval_start=start.isoformat(),
                            interval_end=end.isoformat())
    return copy_rows(cur, QUARANTINE_TABLE, QUARANTINE_COPY, frame)


def _set_rules(cur: psycopg2.extensions.cursor, spec: TableSpec, sources: dict[str, SourceSpec],
               batch_id: str, start: dt.datetime, end: dt.datetime) -> None:
    """Duplicate keys and references: rules over the whole batch and the warehouse, moved in SQL."""
    raw = sql.Identifier(spec.raw_schema, spec.name)
    pk = sql.Identifier(spec.primary_key)
    meta = sql.SQL(" - ").join(sql.Literal(c) for c in [*BATCH_COLUMNS, "_copies"])
    params = {"b": batch_id, "t": spec.qualified, "s": start, "e": end}
    # Identical copies of a row keep one; copies that differ are all quarantined, since nothing says
    # which one is right.
    cur.execute(sql.SQL("""
        with dup as (
            select r.ctid as rid, r.{pk} as k,
                   count(*) over (partition by r.{pk}) as n,
                   row_number() over (partition by r.{pk} order by r.ctid) as rn,
                   to_jsonb(r) - {meta} as doc
            from {raw} r
            where r._batch_id = %(b)s and r.{pk} in (
                select {pk} from {raw} where _batch_id = %(b)s group by {pk} having count(*) > 1)
        ), kinds as (
            select k, count(distinct doc) as variants from dup group by k
        ), moved as (
            delete from {raw} r using dup d join kinds v on v.k = d.k
            where r._batch_id = %(b)s and r.ctid = d.rid and (v.variants > 1 or d.rn > 1)
            returning r.*, v.variants as _copies
        )
        insert into quarantine.rejected_rows
            (batch_id, source_table, rule, reason, row_data, interval_start, interval_end)
        select %(b)s, %(t)s, 'duplicate_key',
               case when m._copies > 1 then {label} || ' ' || m.{pk} || ' appears in differing rows in one batch'
                    else 'exact duplicate of another row with ' || {label} || ' ' || m.{pk} end,
               to_jsonb(m) - {meta}, %(s)s, %(e)s
        from moved m
    """).format(pk=pk, raw=raw, meta=meta, label=sql.Literal(spec.primary_key)), params)
    for column, target in spec.references.items():
        ref_source, ref_table = target.split(".")
        ref = sources[ref_source].table(ref_table)
        col = sql.Identifier(column)
        cur.execute(sql.SQL("""
            with moved as (
                delete from {raw} r
                where r._batch_id = %(b)s and r.{col} is not null
                  and not exists (select 1 from {ref_raw} x where x.{ref_pk} = r.{col})
                returning r.*
            )
            insert into quarantine.rejected_rows
                (batch_id, source_table, rule, reason, row_data, interval_start, interval_end)
            select %(b)s, %(t)s, 'references',
                   {col_label} || ' ' || m.{col} || ' not found in ' || {target}, to_jsonb(m) - {meta},
                   %(s)s, %(e)s
            from moved m
        """).format(raw=raw, col=col, ref_raw=sql.Identifier(ref.raw_schema, ref.name),
                    ref_pk=sql.Identifier(ref.primary_key), col_label=sql.Literal(column),
                    target=sql.Literal(target), meta=sql.SQL(" - ").join(sql.Literal(c) for c in BATCH_COLUMNS)),
            params)


def _count(cur: psycopg2.extensions.cursor, query: sql.Composable, batch_id: str) -> int:
    cur.execute(query, (batch_id,))
    return int(cur.fetchone()[0])


def load_batch(source: SourceSpec, spec: TableSpec, start: dt.datetime, end: dt.datetime,
               chunks: Iterable[Chunk], warehouse: str = WAREHOUSE, replace_overlapping: bool = False,
               tolerance_days: int = 0) -> BatchResult:
    """Replace the batch of (table, [start, end)) with the given chunks; returns its counts."""
    began = time.monotonic()
    batch_id = batch_id_for(spec, start, end)
    sources = load_sources()
    columns = list(spec.columns)
    extracted = 0
    with transaction(warehouse) as cur:
        cur.execute("set local timezone = 'UTC'")
        # two runs of one table at once would interleave their delete+insert: serialise them per table
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (spec.raw_table,))
        _clear_overlaps(cur, spec, batch_id, start, end, replace_overlapping)
        _delete_batches(cur, spec, [batch_id])
        extracted_at = pd.Timestamp.now(tz="UTC").isoformat()
        batch_values = {"_batch_id": batch_id, "_extracted_at": extracted_at,
                        "_interval_start": start.isoformat(), "_interval_end": end.isoformat()}
        for chunk in chunks:
            extracted += len(chunk.rows) + len(chunk.unparseable)
            checked = check_rows(spec, chunk.rows, end, tolerance_days)
            good = checked.good.assign(**batch_values)
            copy_rows(cur, spec.raw_table, [*columns, *BATCH_COLUMNS], good)
            _quarantine(cur, checked.rejected, batch_id, spec, start, end)
            _quarantine(cur, unparseable_lines(chunk.unparseable), batch_id, spec, start, end)
        _set_rules(cur, spec, sources, batch_id, start, end)
        loaded = _count(cur, sql.SQL("select count(*) from {} where _batch_id = %s").format(
            sql.Identifier(spec.raw_schema, spec.name)), batch_id)
        quarantined = _count(cur, sql.SQL("select count(*) from quarantine.rejected_rows where batch_id = %s"),
                             batch_id)
        if extracted != loaded + quarantined:
            raise CountMismatch(f"{batch_id}: extracted {extracted} != loaded {loaded} + quarantined {quarantined}")
        cur.execute(
            "insert into audit.batch_counts (batch_id, source_table, interval_start, interval_end, extracted,"
            " loaded, quarantined) values (%s, %s, %s, %s, %s, %s, %s)",
            (batch_id, spec.qualified, start, end, extracted, loaded, quarantined),
        )
    return BatchResult(batch_id, spec.qualified, start, end, extracted, loaded, quarantined,
                       round(time.monotonic() - began, 3))
