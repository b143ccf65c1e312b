"""The raw loader: one (table, data interval) batch replaced atomically with COPY, quarantine and audit.

A batch is all-or-nothing: the old rows of the interval, the new raw rows, their quarantined rows and the
audit counts change in one warehouse transaction, so a task killed mid-load leaves the previous state.
"""

from __future__ import annotations

import datetime as dt
import io
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
import psycopg2.extensions
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql

from common.warehouse import (
    COPY_READ_SIZE,
    WAREHOUSE,
    arrow_csv,
    connect,
    connection_url,
    copy_csv,
    copy_rows,
    one_row,
    transaction,
)
from ingest import pgbinary
from ingest.connectors import Chunk
from ingest.sources import BATCH_COLUMNS, SourceSpec, TableSpec, late_arrival_days, load_sources
from ingest.validate import as_text_table, check_rows, check_table_parts, row_json, unparseable_lines

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
    phases: dict[str, float] = field(default_factory=dict, compare=False)  # seconds per step, see load_batch


def prefetched(items: Iterable[T], work: Callable[[T], R], depth: int = 2) -> Generator[R, None, None]:
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
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator that holds a source connection releases it here
                close()
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


INTRADAY_SUFFIX = "/intraday"


def batch_id_for(spec: TableSpec, start: dt.datetime, end: dt.datetime, intraday: bool = False) -> str:
    """Deterministic per (table, interval), so a rerun finds and replaces its own batch.

    An intraday batch (the credit-event re-rating's, pipeline.events) covers part of one day, to the
    microsecond, and is marked: the daily batch of its day replaces it.
    """
    if intraday:
        return f"{spec.qualified}/{start:%Y%m%dT%H%M%S.%fZ}-{end:%Y%m%dT%H%M%S.%fZ}{INTRADAY_SUFFIX}"
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


def _delete_batches(
    cur: psycopg2.extensions.cursor, spec: TableSpec, batch_ids: list[str], starts: list[dt.datetime]
) -> None:
    raw = sql.Identifier(spec.raw_schema, spec.name)
    # _interval_start is the indexed column (8 bytes, cheap to maintain under COPY); the id makes it exact
    cur.execute(
        sql.SQL("delete from {} where _interval_start = any(%s) and _batch_id = any(%s)").format(raw),
        (starts, batch_ids),
    )
    cur.execute("delete from quarantine.rejected_rows where batch_id = any(%s)", (batch_ids,))
    cur.execute("delete from audit.batch_counts where batch_id = any(%s)", (batch_ids,))


def _clear_overlaps(
    cur: psycopg2.extensions.cursor,
    spec: TableSpec,
    batch_id: str,
    start: dt.datetime,
    end: dt.datetime,
    replace_overlapping: bool,
) -> None:
    """Refuse an interval that overlaps other batches, unless asked to replace ones it fully covers.

    Intraday batches it fully covers are always replaced: the daily batch of a day is the record, the
    intraday ones only brought its rows in early.
    """
    cur.execute(
        "select batch_id, interval_start, interval_end from audit.batch_counts"
        " where source_table = %s and interval_start < %s and interval_end > %s and batch_id <> %s"
        " order by interval_start",
        (spec.qualified, end, start, batch_id),
    )
    overlaps = cur.fetchall()
    early = [(b, s) for b, s, e in overlaps if b.endswith(INTRADAY_SUFFIX) and s >= start and e <= end]
    if early:
        _delete_batches(cur, spec, [b for b, _ in early], [s for _, s in early])
        overlaps = [
            o for o in overlaps if not (o[0].endswith(INTRADAY_SUFFIX) and o[1] >= start and o[2] <= end)
        ]
    if not overlaps:
        return
    covered = all(s >= start and e <= end for _, s, e in overlaps)
    if replace_overlapping and covered:
        _delete_batches(cur, spec, [b for b, _, _ in overlaps], [s for _, s, _ in overlaps])
        return
    shown = ", ".join(f"[{s:%Y-%m-%d %H:%M}, {e:%Y-%m-%d %H:%M})" for _, s, e in overlaps[:5])
    hint = (
        "rerun exactly those intervals, or load a range that covers them whole with replace_overlapping"
        if covered or not replace_overlapping
        else "a partly overlapping batch cannot be replaced"
    )
    raise OverlappingBatch(
        f"{spec.qualified}: interval [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) overlaps "
        f"{len(overlaps)} loaded batch(es) {shown}: {hint}"
    )


def _quarantine(
    cur: psycopg2.extensions.cursor,
    rejected: pd.DataFrame,
    batch_id: str,
    spec: TableSpec,
    start: dt.datetime,
    end: dt.datetime,
) -> int:
    if rejected.empty:
        return 0
    frame = rejected.assign(
        batch_id=batch_id,
        source_table=spec.qualified,
        interval_start=start.isoformat(),
        interval_end=end.isoformat(),
    )
    return copy_rows(cur, QUARANTINE_TABLE, QUARANTINE_COPY, frame)


def _text_array(values: pa.Array) -> str:
    """A PostgreSQL text[] literal of non-null strings, built with Arrow kernels: one parameter the server
    parses at once, instead of one quoted element per value in Python."""
    escaped = pc.replace_substring(pc.replace_substring(values.cast(pa.string()), "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(quoted)], pa.int32()), quoted), ",")
    return "{" + (joined[0].as_py() or "") + "}"


def _fixed_width(values: pa.Array, width: int) -> np.ndarray:
    """Non-null strings of at most `width` bytes as a numpy array of fixed-width bytes (dtype S<width>),
    copied block by block straight from Arrow's buffers (no Python string per value)."""
    values = values.cast(pa.large_string())
    count = len(values)
    out = np.zeros(count, dtype=f"S{width}")
    if count == 0:
        return out
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64, count=count + 1, offset=values.offset * 8)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    cells = out.view(np.uint8).reshape(count, width)
    block = 1 << 18
    for first in range(0, count, block):
        last = min(first + block, count)
        bounds = offsets[first : last + 1]
        lengths = np.diff(bounds)
        rows = np.repeat(np.arange(first, last), lengths)
        cols = np.arange(bounds[0], bounds[-1]) - np.repeat(bounds[:-1], lengths)
        cells[rows, cols] = data[bounds[0] : bounds[-1]]
    return out


class _KeySet:
    """A set of keys held as a sorted numpy array of fixed-width bytes: built once per batch, then each
    lookup is a binary search (a chunk's lookups cost what the chunk asks for, not the set's size).
    PostgreSQL text holds no NUL byte, so padding with NULs keeps keys distinct."""

    MAX_KEY_BYTES = 32

    def __init__(self, keys: pa.Array) -> None:
        self.width = max(1, pc.max(pc.binary_length(keys)).as_py() or 0) if len(keys) else 1
        self._sorted = np.sort(_fixed_width(keys, self.width)) if self.width <= self.MAX_KEY_BYTES else None

    @property
    def usable(self) -> bool:
        """False when a key is too long to hold the set in fixed-width form (then the warehouse is asked)."""
        return self._sorted is not None

    def missing(self, values: pa.Array) -> pa.Array:
        """The values (non-null) that are not in the set."""
        assert self._sorted is not None
        if not len(self._sorted):
            return values
        fits = pc.less_equal(pc.binary_length(values), self.width).to_numpy(zero_copy_only=False)
        found = np.zeros(len(values), dtype=bool)
        if fits.any():
            probe = _fixed_width(values.filter(pa.array(fits)), self.width)
            at = np.minimum(np.searchsorted(self._sorted, probe), len(self._sorted) - 1)
            found[fits] = self._sorted[at] == probe
        return values.filter(pa.array(~found))


class _Parents:
    """Checks foreign keys against the keys of the referenced raw tables (committed rows of earlier batches).

    A batch that asks for few values (a daily run) asks the warehouse for the absent ones: an index lookup
    per value, almost nothing travels back. Once the values a batch asks for add up to a tenth of the
    parent's rows (an initial load asks for every parent, chunk after chunk), the parent's keys are read
    once and each chunk is checked against them in memory (a sorted array, binary search), up to
    LOCAL_PARENT_ROWS parent rows and keys of up to _KeySet.MAX_KEY_BYTES bytes.
    """

    LOCAL_PARENT_ROWS = 16_000_000

    def __init__(
        self, lookup: psycopg2.extensions.connection, spec: TableSpec, sources: dict[str, SourceSpec]
    ) -> None:
        self._lookup = lookup
        self._targets = {}
        for column, target in spec.references.items():
            ref_source, ref_table = target.split(".")
            self._targets[column] = (target, sources[ref_source], sources[ref_source].table(ref_table))
        self._local: dict[str, _KeySet] = {}
        self._asked: dict[str, int] = {}
        self._ask_only: set[str] = set()
        self._parent_rows: dict[str, int] = {}

    def check(self, good: pa.Table) -> tuple[pa.Table, pd.DataFrame]:
        """Split off rows whose foreign keys neither the raw layer nor the parent's SQL source holds."""
        rejected = []
        for column, (target, ref_source, ref) in self._targets.items():
            wanted = pc.unique(pc.drop_null(good[column]))
            if isinstance(wanted, pa.ChunkedArray):
                wanted = wanted.combine_chunks()
            if not len(wanted):
                continue
            absent = self._absent(column, ref, wanted)
            if absent:
                absent = _unknown_to_source(ref_source, ref, absent)
            if not absent:
                continue
            missing = pc.fill_null(pc.is_in(good[column], value_set=pa.array(absent, pa.string())), False)
            bad = good.filter(missing).to_pandas()
            rejected.append(
                pd.DataFrame(
                    {
                        "rule": "references",
                        "reason": [f"{column} {value} not found in {target}" for value in bad[column]],
                        "row_data": row_json(bad),
                    }
                )
            )
            good = good.filter(pc.invert(missing))
        return good, (pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame())

    def _absent(self, column: str, ref: TableSpec, wanted: pa.Array) -> list[str]:
        """The wanted values that are not a key of the parent's raw table."""
        if column not in self._local and column not in self._ask_only:
            self._asked[column] = self._asked.get(column, 0) + len(wanted)
            rows = self._parent_size(column, ref)
            if rows <= self.LOCAL_PARENT_ROWS and self._asked[column] * 10 >= rows:
                keys = _KeySet(self._parent_keys(ref))
                if keys.usable:
                    self._local[column] = keys
                else:
                    self._ask_only.add(column)  # keys too long to hold: keep asking the warehouse
        if column in self._local:
            return self._local[column].missing(wanted).to_pylist()
        with self._lookup.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "select v from unnest(%s::text[]) as v where not exists "
                    "(select 1 from {ref} x where x.{pk} = v)"
                ).format(pk=sql.Identifier(ref.primary_key), ref=sql.Identifier(ref.raw_schema, ref.name)),
                (_text_array(wanted),),
            )
            return [row[0] for row in cur.fetchall()]

    def _parent_size(self, column: str, ref: TableSpec) -> int:
        """Rows the parent's raw table holds, from the audit counts of its batches (no scan)."""
        if column not in self._parent_rows:
            with self._lookup.cursor() as cur:
                cur.execute(
                    "select coalesce(sum(loaded), 0) from audit.batch_counts where source_table = %s",
                    (ref.qualified,),
                )
                self._parent_rows[column] = int(one_row(cur)[0])
        return self._parent_rows[column]

    def _parent_keys(self, ref: TableSpec) -> pa.Array:
        """Every distinct key of the parent's raw table, read once with COPY."""
        import pyarrow.csv as pacsv

        buf = io.BytesIO()
        with self._lookup.cursor() as cur:
            cur.copy_expert(
                sql.SQL("COPY (select {pk} from {ref} where {pk} is not null) TO STDOUT WITH (FORMAT csv)")
                .format(pk=sql.Identifier(ref.primary_key), ref=sql.Identifier(ref.raw_schema, ref.name))
                .as_string(cur),
                buf,
            )
        if not buf.tell():
            return pa.array([], pa.string())
        buf.seek(0)
        keys = pacsv.read_csv(
            buf,
            read_options=pacsv.ReadOptions(column_names=["k"]),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={"k": pa.string()}, strings_can_be_null=False),
        )["k"]
        return pc.unique(keys)


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
            cur.execute(
                sql.SQL("select {pk} from {table} where {pk} = any(%s)").format(
                    pk=sql.Identifier(ref.primary_key), table=sql.Identifier(source.schema, ref.name)
                ),
                (keys,),
            )
            known = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    return [k for k in keys if k not in known]


def _duplicated(keys: list[pa.Array]) -> list[str]:
    """Keys that occur more than once among the loaded rows of the batch (across all chunks)."""
    if not keys:
        return []
    counts = pc.value_counts(pa.chunked_array(keys, type=pa.string()))
    return [
        k
        for k in counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()
        if k is not None
    ]


def _move_duplicates(
    cur: psycopg2.extensions.cursor,
    spec: TableSpec,
    batch_id: str,
    start: dt.datetime,
    end: dt.datetime,
    keys: list[str],
) -> int:
    """Move rows of duplicated keys to quarantine: identical copies keep one, differing copies all go,
    since nothing says which one is right. Returns the number of rows moved."""
    raw = sql.Identifier(spec.raw_schema, spec.name)
    pk = sql.Identifier(spec.primary_key)
    meta = sql.SQL(" - ").join(sql.Literal(c) for c in [*BATCH_COLUMNS, "_copies"])
    cur.execute(
        sql.SQL("""
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
        {"b": batch_id, "t": spec.qualified, "s": start, "e": end, "keys": keys},
    )
    return cur.rowcount


def _copy_binary(cur: psycopg2.extensions.cursor, spec: TableSpec, data: io.BytesIO) -> int:
    """COPY binary rows (source columns, then the batch columns) into the raw table; the server's count."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
        sql.Identifier(spec.raw_schema, spec.name),
        sql.SQL(", ").join(map(sql.Identifier, [*spec.columns, *BATCH_COLUMNS])),
    )
    cur.copy_expert(statement, data, size=COPY_READ_SIZE)
    return cur.rowcount


def _analyze_if_stale(cur: psycopg2.extensions.cursor, spec: TableSpec, copied: int) -> bool:
    """ANALYZE the raw table when it was never analyzed or the batch adds a tenth of its rows or more.

    The raw gate's batch queries are planned on these statistics: until autovacuum analyzes a freshly
    loaded table, the planner would take it for nearly empty. Smaller batches leave it to autovacuum.
    """
    cur.execute(
        """
        select c.reltuples, s.last_analyze is null and s.last_autoanalyze is null
        from pg_class c left join pg_stat_user_tables s on s.relid = c.oid
        where c.oid = %s::regclass""",
        (spec.raw_table,),
    )
    reltuples, never = one_row(cur)
    if not (never or copied >= 0.1 * max(reltuples, 0)):
        return False
    cur.execute(sql.SQL("analyze {}").format(sql.Identifier(spec.raw_schema, spec.name)))
    return True


def _defer_indexes(cur: psycopg2.extensions.cursor, spec: TableSpec, batch_id: str) -> list[str]:
    """On a first load, drop the raw table's B-tree indexes for the COPY; returns the statements that
    create them again (run before the audit row, in the same transaction).

    Only when no other batch of the table is loaded (its raw table holds no committed rows of another
    batch), so building the index afterwards costs what maintaining it row by row would have cost, only
    less. Indexes behind constraints stay. Dropping needs an exclusive lock on the table until commit:
    if another session holds the table (a reader of an empty table), the indexes stay and are
    maintained as usual.
    """
    cur.execute(
        "select count(*) from audit.batch_counts where source_table = %s and batch_id <> %s",
        (spec.qualified, batch_id),
    )
    if one_row(cur)[0]:
        return []
    if any(target == spec.qualified for target in spec.references.values()):
        return []  # the batch's own reference lookups read this table from a second connection
    cur.execute(
        """
        select n.nspname, c.relname, pg_get_indexdef(i.indexrelid)
        from pg_index i
        join pg_class c on c.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_am a on a.oid = c.relam
        where i.indrelid = %s::regclass and a.amname = 'btree'
          and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
        order by c.relname
    """,
        (spec.raw_table,),
    )
    indexes = cur.fetchall()
    if not indexes:
        return []
    cur.execute("savepoint defer_indexes")
    try:
        cur.execute("set local lock_timeout = '2s'")
        for schema, name, _ in indexes:
            cur.execute(sql.SQL("drop index {}").format(sql.Identifier(schema, name)))
        cur.execute("set local lock_timeout to default")
        cur.execute("release savepoint defer_indexes")
    except psycopg2.errors.LockNotAvailable:
        cur.execute("rollback to savepoint defer_indexes")  # the indexes stay, as does the lock timeout
        return []
    return [definition for _, _, definition in indexes]


@dataclass
class _Checked:
    """One chunk, checked in the worker: its rows to load as COPY-ready pieces and its rejected rows."""

    extracted: int
    pieces: list[tuple[str, int, io.BytesIO]]  # (COPY format, rows, data)
    rejected: pd.DataFrame
    unreferenced: pd.DataFrame
    unparseable: list


@dataclass
class _Duplicated:
    """After the last chunk: the keys that occur more than once among the batch's loaded rows."""

    keys: list[str]


_END = object()


def load_batch(
    source: SourceSpec,
    spec: TableSpec,
    start: dt.datetime,
    end: dt.datetime,
    chunks: Iterable[Chunk],
    warehouse: str = WAREHOUSE,
    replace_overlapping: bool = False,
    tolerance_days: int = 0,
    intraday: bool = False,
) -> BatchResult:
    """Replace the batch of (table, [start, end)) with the given chunks; returns its counts.

    Row rules and references are checked before COPY in a worker thread, which also writes each chunk's
    rows as CSV, while the transaction COPYs the previous chunk. Duplicate keys need the whole batch:
    the worker finds them after the last chunk, and their rows are moved from raw to quarantine inside
    the transaction. Loaded = the rows the server reports for the COPYs minus the rows moved; the batch
    commits only if extracted = loaded + quarantined (counted in quarantine).

    `phases` of the result, in seconds: in the worker `source` (waiting for the source's rows),
    `validate`, `references`, `serialise`, `duplicates_find`; in the transaction `setup`, `wait` (for
    the worker), `copy`, `quarantine`, `duplicates_move`, `indexes`, `audit`. `intraday` marks the
    batch as the credit-event re-rating's (batch_id_for).
    """
    began = time.monotonic()
    batch_id = batch_id_for(spec, start, end, intraday)
    late_days = late_arrival_days()
    sources = load_sources()
    columns = list(spec.columns)
    phases: dict[str, float] = defaultdict(float)
    clock = time.perf_counter
    extracted = copied = 0
    # references are looked up in other batches' committed rows: crm runs before finance
    with transaction(warehouse) as cur:
        mark = clock()
        cur.execute("set local timezone = 'UTC'")
        cur.execute("set local work_mem = '64MB'")  # the batch's group-bys sort in memory, not on disk
        cur.execute("set local maintenance_work_mem = '256MB'")  # deferred index builds sort in memory
        # two runs of one table at once would interleave their delete+insert: serialise them per table
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (spec.raw_table,))
        _clear_overlaps(cur, spec, batch_id, start, end, replace_overlapping)
        _delete_batches(cur, spec, [batch_id], [start])
        stamp = "%Y-%m-%d %H:%M:%S.%f+00"
        # the server's clock, read while this transaction holds the table's lock: the batches of one
        # table are stamped in commit order, whatever the clocks of the workers, which is what the
        # incremental dbt build relies on (it reads the rows stamped after its last run)
        cur.execute("select clock_timestamp()")
        extracted_at = one_row(cur)[0].astimezone(dt.UTC)
        batch_values = {
            "_batch_id": batch_id,
            "_extracted_at": extracted_at,
            "_interval_start": start,
            "_interval_end": end,
        }
        _set_batch_columns(
            cur,
            {
                name: value if isinstance(value, str) else value.astimezone(dt.UTC).strftime(stamp)
                for name, value in batch_values.items()
            },
        )
        # rows in canonical form travel in binary, with the batch columns as constants (the same values
        # the column defaults give the rows sent as text)
        binary_ok = all(pgbinary.supports(t) for t in spec.columns.values())
        batch_cells = pgbinary.constant_cells(
            [  # to the microsecond, as the settings above carry them
                (value, BATCH_COLUMNS[name]) for name, value in batch_values.items()
            ]
        )
        deferred = _defer_indexes(cur, spec, batch_id)
        phases["setup"] += clock() - mark
        keys: list[pa.Array] = []

        def items() -> Iterator[object]:
            """The chunks, then _END; runs in the worker, so waiting on the source is timed there."""
            iterator = iter(chunks)
            try:
                while True:
                    mark = clock()
                    chunk = next(iterator, _END)
                    phases["source"] += clock() - mark
                    yield chunk
                    if chunk is _END:
                        return
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()

        def work(chunk: object) -> _Checked | _Duplicated:
            mark = clock()
            if chunk is _END:
                duplicated = _Duplicated(_duplicated(keys))
                phases["duplicates_find"] += clock() - mark
                return duplicated
            assert isinstance(chunk, Chunk)
            if isinstance(chunk.rows, pa.Table):
                canonical, other, rejected = check_table_parts(
                    spec, chunk.rows.select(columns), end, tolerance_days
                )
            else:
                result = check_rows(
                    spec, chunk.rows, end, tolerance_days, interval_start=start, late_days=late_days
                )
                canonical, other, rejected = None, as_text_table(result.good, columns), result.rejected
            phases["validate"] += clock() - mark
            mark = clock()
            # parents are committed rows of earlier batches, so a second connection can look them up
            unreferenced = []
            parts = []
            for part, binary in ((canonical, binary_ok), (other, False)):
                if part is None or not part.num_rows:
                    continue
                part, missing = parents.check(part)
                unreferenced.append(missing)
                parts.append((part, binary))
            phases["references"] += clock() - mark
            mark = clock()
            pieces = []
            for part, binary in parts:
                keys.append(part[spec.primary_key].combine_chunks())
                if not part.num_rows:
                    continue
                if binary:
                    try:
                        pieces.append(
                            (
                                "binary",
                                part.num_rows,
                                io.BytesIO(
                                    pgbinary.encode(part, spec.columns, batch_cells, len(BATCH_COLUMNS))
                                ),
                            )
                        )
                        continue
                    except pgbinary.NotEncodable:
                        pass  # the server's text input decides, as for any non-canonical value
                pieces.append(("csv", part.num_rows, arrow_csv(part)))
            phases["serialise"] += clock() - mark
            unreferenced_rows = pd.concat(unreferenced, ignore_index=True) if unreferenced else pd.DataFrame()
            return _Checked(chunk.size, pieces, rejected, unreferenced_rows, chunk.unparseable)

        # reading, checking, reference lookups and CSV writing of the next chunk overlap the COPY of this
        # one (Arrow and the servers work without the GIL)
        lookup = connect(warehouse)
        lookup.autocommit = True
        parents = _Parents(lookup, spec, sources)
        ready = prefetched(items(), work)
        duplicated: list[str] = []
        try:
            while True:
                mark = clock()
                item = next(ready, None)
                phases["wait"] += clock() - mark
                if item is None:
                    break
                if isinstance(item, _Duplicated):
                    duplicated = item.keys
                    continue
                mark = clock()
                extracted += item.extracted
                for kind, rows, data in item.pieces:
                    if kind == "binary":
                        stored = _copy_binary(cur, spec, data)
                    else:
                        stored = copy_csv(cur, spec.raw_table, columns, data)
                    if stored != rows:
                        raise CountMismatch(f"{batch_id}: COPY stored {stored} of {rows} rows")
                    copied += stored
                phases["copy"] += clock() - mark
                mark = clock()
                _quarantine(cur, item.rejected, batch_id, spec, start, end)
                _quarantine(cur, item.unreferenced, batch_id, spec, start, end)
                _quarantine(cur, unparseable_lines(item.unparseable), batch_id, spec, start, end)
                phases["quarantine"] += clock() - mark
        finally:
            ready.close()  # stops the worker before its connection goes away
            lookup.close()
        mark = clock()
        moved = _move_duplicates(cur, spec, batch_id, start, end, duplicated) if duplicated else 0
        phases["duplicates_move"] += clock() - mark
        mark = clock()
        for statement in deferred:
            cur.execute(statement)
        phases["indexes"] += clock() - mark
        mark = clock()
        _analyze_if_stale(cur, spec, copied)
        phases["analyze"] += clock() - mark
        mark = clock()
        loaded = copied - moved
        cur.execute("select count(*) from quarantine.rejected_rows where batch_id = %s", (batch_id,))
        quarantined = int(one_row(cur)[0])
        if extracted != loaded + quarantined:
            raise CountMismatch(
                f"{batch_id}: extracted {extracted} != loaded {loaded} + quarantined {quarantined}"
            )
        cur.execute(
            "insert into audit.batch_counts (batch_id, source_table, interval_start, interval_end, extracted,"
            " loaded, quarantined) values (%s, %s, %s, %s, %s, %s, %s)",
            (batch_id, spec.qualified, start, end, extracted, loaded, quarantined),
        )
        phases["audit"] += clock() - mark
    return BatchResult(
        batch_id,
        spec.qualified,
        start,
        end,
        extracted,
        loaded,
        quarantined,
        round(time.monotonic() - began, 3),
        {k: round(v, 3) for k, v in phases.items()},
    )
