"""The raw loader: one (table, data interval) batch replaced atomically with COPY, quarantine and audit.

A batch is all-or-nothing: the old rows of the interval, the new raw rows, their quarantined rows and the
audit counts change in one warehouse transaction, so a task killed mid-load leaves the previous state.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd
import psycopg2.extensions
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql

from common.warehouse import WAREHOUSE, connect, connection_url, copy_arrow, copy_rows, transaction
from ingest.connectors import Chunk
from ingest.sources import BATCH_COLUMNS, SourceSpec, TableSpec, load_sources
from ingest.validate import as_text_table, check_rows, check_table, row_json, unparseable_lines

T = TypeVar("T")
R = TypeVar("R")
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


def prefetched(items: Iterable[T], work: Callable[[T], R], depth: int = 2) -> Iterator[R]:
    """work(item) for each item, computed up to `depth` items ahead in a worker thread, in order.

    An exception in the worker is re-raised here; if the consumer stops early the worker stops too.
    """
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    finished = object()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                results.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(work(item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(_Failure(exc))
            return
        put(finished)

    worker = threading.Thread(target=run, name="ingest-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            value = results.get()
            if value is finished:
                return
            if isinstance(value, _Failure):
                raise value.error
            yield value
    finally:
        stop.set()
        worker.join(timeout=5)


@dataclass
class _Failure:
    error: BaseException


def batch_id_for(spec: TableSpec, start: dt.datetime, end: dt.datetime) -> str:
    """Deterministic per (table, interval), so a rerun finds and replaces its own batch."""
    return f"{spec.qualified}/{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"


def _set_batch_columns(cur: psycopg2.extensions.cursor, values: dict[str, str]) -> None:
    """Set the batch columns for this transaction: the raw tables' column defaults read them
    (migration 013), so the COPY stream carries only the source columns."""
    cur.execute(
        "select set_config('raw.batch_id', %(_batch_id)s, true), "
        "set_config('raw.extracted_at', %(_extracted_at)s, true), "
        "set_config('raw.interval_start', %(_interval_start)s, true), "
        "set_config('raw.interval_end', %(_interval_end)s, true)",
        values,
    )


def _delete_batches(cur: psycopg2.extensions.cursor, spec: TableSpec, batch_ids: list[str],
                    starts: list[dt.datetime]) -> None:
    raw = sql.Identifier(spec.raw_schema, spec.name)
    # _interval_start is the indexed column (8 bytes, cheap to maintain under COPY); the id makes it exact
    cur.execute(sql.SQL("delete from {} where _interval_start = any(%s) and _batch_id = any(%s)").format(raw),
                (starts, batch_ids))
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
        _delete_batches(cur, spec, [b for b, _, _ in overlaps], [s for _, s, _ in overlaps])
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


def _check_references(cur: psycopg2.extensions.cursor, spec: TableSpec, sources: dict[str, SourceSpec],
                      good: pa.Table) -> tuple[pa.Table, pd.DataFrame]:
    """Split off rows whose foreign keys are not in the warehouse's raw layer (checked before COPY)."""
    rejected = []
    for column, target in spec.references.items():
        ref_source, ref_table = target.split(".")
        ref = sources[ref_source].table(ref_table)
        wanted = pc.unique(pc.drop_null(good[column])).to_pylist()
        if not wanted:
            continue
        # ask for the absent values only: usually none, so almost nothing travels back
        cur.execute(sql.SQL("select v from unnest(%s::text[]) as v where not exists "
                            "(select 1 from {ref} x where x.{pk} = v)").format(
            pk=sql.Identifier(ref.primary_key), ref=sql.Identifier(ref.raw_schema, ref.name)), (wanted,))
        absent = [row[0] for row in cur.fetchall()]
        if absent:
            absent = _unknown_to_source(sources[ref_source], ref, absent)
        if not absent:
            continue
        missing = pc.fill_null(pc.is_in(good[column], value_set=pa.array(absent, pa.string())), False)
        bad = good.filter(missing).to_pandas()
        rejected.append(pd.DataFrame({
            "rule": "references",
            "reason": [f"{column} {value} not found in {target}" for value in bad[column]],
            "row_data": row_json(bad),
        }))
        good = good.filter(pc.invert(missing))
    return good, (pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame())


def _unknown_to_source(source: SourceSpec, ref: TableSpec, keys: list[str]) -> list[str]:
    """Keys the referenced SQL source does not hold either.

    A parent changed after the interval (a customer updated today, while yesterday's invoices are
    backfilled) is not in raw yet but is no unknown customer: its own interval will load it. Only keys
    the source system has never heard of are quarantined. File-drop parents cannot be asked.
    """
    if source.kind != "sql":
        return keys
    conn = connect(connection_url(source.connection), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("select {pk} from {table} where {pk} = any(%s)").format(
                pk=sql.Identifier(ref.primary_key), table=sql.Identifier(source.schema, ref.name)), (keys,))
            known = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    return [k for k in keys if k not in known]


def _duplicated(keys: list[pa.Array]) -> list[str]:
    """Keys that occur more than once among the loaded rows of the batch (across all chunks)."""
    if not keys:
        return []
    counts = pc.value_counts(pa.chunked_array(keys, type=pa.string()))
    return [k for k in counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()
            if k is not None]


def _move_duplicates(cur: psycopg2.extensions.cursor, spec: TableSpec, batch_id: str, start: dt.datetime,
                     end: dt.datetime, keys: list[str]) -> None:
    """Move rows of duplicated keys to quarantine: identical copies keep one, differing copies all go,
    since nothing says which one is right."""
    raw = sql.Identifier(spec.raw_schema, spec.name)
    pk = sql.Identifier(spec.primary_key)
    meta = sql.SQL(" - ").join(sql.Literal(c) for c in [*BATCH_COLUMNS, "_copies"])
    cur.execute(sql.SQL("""
        with dup as (
            select r.ctid as rid, r.{pk} as k,
                   row_number() over (partition by r.{pk} order by r.ctid) as rn,
                   to_jsonb(r) - {meta} as doc
            from {raw} r
            where r._interval_start = %(s)s and r._batch_id = %(b)s and r.{pk} = any(%(keys)s)
        ), kinds as (
            select k, count(distinct doc) as variants from dup group by k
        ), moved as (
            delete from {raw} r using dup d join kinds v on v.k = d.k
            where r._interval_start = %(s)s and r._batch_id = %(b)s and r.ctid = d.rid
              and (v.variants > 1 or d.rn > 1)
            returning r.*, v.variants as _copies
        )
        insert into quarantine.rejected_rows
            (batch_id, source_table, rule, reason, row_data, interval_start, interval_end)
        select %(b)s, %(t)s, 'duplicate_key',
               case when m._copies > 1
                    then {label} || ' ' || m.{pk} || ' appears in differing rows in one batch'
                    else 'exact duplicate of another row with ' || {label} || ' ' || m.{pk} end,
               to_jsonb(m) - {meta}, %(s)s, %(e)s
        from moved m
    """).format(pk=pk, raw=raw, meta=meta, label=sql.Literal(spec.primary_key)),
        {"b": batch_id, "t": spec.qualified, "s": start, "e": end, "keys": keys})


def load_batch(source: SourceSpec, spec: TableSpec, start: dt.datetime, end: dt.datetime,
               chunks: Iterable[Chunk], warehouse: str = WAREHOUSE, replace_overlapping: bool = False,
               tolerance_days: int = 0) -> BatchResult:
    """Replace the batch of (table, [start, end)) with the given chunks; returns its counts.

    Row rules and references are checked before COPY; duplicate keys need the whole batch, so their
    rows are moved from raw to quarantine after the last chunk, still inside the transaction.
    """
    began = time.monotonic()
    batch_id = batch_id_for(spec, start, end)
    sources = load_sources()
    columns = list(spec.columns)
    # references are looked up in other batches' committed rows: crm runs before finance
    extracted = 0
    with transaction(warehouse) as cur:
        cur.execute("set local timezone = 'UTC'")
        cur.execute("set local work_mem = '64MB'")  # the batch's group-bys sort in memory, not on disk
        # two runs of one table at once would interleave their delete+insert: serialise them per table
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (spec.raw_table,))
        _clear_overlaps(cur, spec, batch_id, start, end, replace_overlapping)
        _delete_batches(cur, spec, [batch_id], [start])
        stamp = "%Y-%m-%d %H:%M:%S+00"
        _set_batch_columns(cur, {"_batch_id": batch_id, "_extracted_at": dt.datetime.now(dt.UTC).strftime(stamp),
                                 "_interval_start": start.strftime(stamp), "_interval_end": end.strftime(stamp)})
        keys: list[pa.Array] = []

        def checked(chunk: Chunk) -> tuple[int, pa.Table, pd.DataFrame, pd.DataFrame, list]:
            if isinstance(chunk.rows, pa.Table):
                good, rejected = check_table(spec, chunk.rows.select(columns), end, tolerance_days)
            else:
                result = check_rows(spec, chunk.rows, end, tolerance_days)
                good, rejected = as_text_table(result.good, columns), result.rejected
            # parents are committed rows of earlier batches, so a second connection can look them up
            with lookup.cursor() as lookup_cur:
                good, unreferenced = _check_references(lookup_cur, spec, sources, good)
            return chunk.size, good, rejected, unreferenced, chunk.unparseable

        # reading, checking and reference lookups of the next chunk overlap the COPY of this one
        # (Arrow and the servers work without the GIL)
        lookup = connect(warehouse)
        lookup.autocommit = True
        ready = prefetched(chunks, checked)
        try:
            for size, good, rejected, unreferenced, unparseable in ready:
                extracted += size
                copy_arrow(cur, spec.raw_table, good)
                keys.append(good[spec.primary_key].combine_chunks())
                _quarantine(cur, rejected, batch_id, spec, start, end)
                _quarantine(cur, unreferenced, batch_id, spec, start, end)
                _quarantine(cur, unparseable_lines(unparseable), batch_id, spec, start, end)
        finally:
            ready.close()  # stops the worker before its connection goes away
            lookup.close()
        duplicated = _duplicated(keys)
        if duplicated:
            _move_duplicates(cur, spec, batch_id, start, end, duplicated)
        cur.execute(sql.SQL("select count(*) from {} where _interval_start = %s and _batch_id = %s").format(
            sql.Identifier(spec.raw_schema, spec.name)), (start, batch_id))
        loaded = int(cur.fetchone()[0])
        cur.execute("select count(*) from quarantine.rejected_rows where batch_id = %s", (batch_id,))
        quarantined = int(cur.fetchone()[0])
        if extracted != loaded + quarantined:
            raise CountMismatch(f"{batch_id}: extracted {extracted} != loaded {loaded} + quarantined {quarantined}")
        cur.execute(
            "insert into audit.batch_counts (batch_id, source_table, interval_start, interval_end, extracted,"
            " loaded, quarantined) values (%s, %s, %s, %s, %s, %s, %s)",
            (batch_id, spec.qualified, start, end, extracted, loaded, quarantined),
        )
    return BatchResult(batch_id, spec.qualified, start, end, extracted, loaded, quarantined,
                       round(time.monotonic() - began, 3))
