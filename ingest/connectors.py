"""Source connectors: read one table's rows for a data interval as chunks of text columns.

Both connectors hand rows over as text (nulls as missing values) so that the validator sees exactly
what the source sent; typing happens in the validator and in the raw table.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
import psycopg2
import psycopg2.extensions
import pyarrow as pa
from psycopg2 import sql

from common.warehouse import connect, connection_url
from ingest.sources import SourceSpec, TableSpec

CHUNK_ROWS = 50_000  # rows handed to the validator at a time: bounds memory, and the first COPY starts early
NULL = "\\N"
# A file-drop field longer than this is quarantined with its line, not loaded (nor allowed to fail the
# file, as the csv module's own limit of 128 KiB did): no source column needs more.
MAX_FIELD_CHARS = 65_536
SHOWN_CHARS = 200  # of an oversize field, kept in quarantine's row_data
_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (decoded with surrogateescape)


class SourceUnavailable(RuntimeError):
    """The source system cannot be reached or read; the task should fail and be retried."""


class MalformedFile(RuntimeError):
    """A landing file cannot be read as a whole (unreadable, bad header, not CSV/Parquet); names the file."""


@dataclass
class Chunk:
    """Rows of one table as text, plus lines that could not even be split into columns.

    SQL sources hand over Arrow tables of canonical PostgreSQL text (the fast path); file drops hand over
    pandas frames of whatever the file held.
    """

    rows: pd.DataFrame | pa.Table
    unparseable: list[dict[str, Any]] = field(default_factory=list)  # row_data of each bad line

    @property
    def size(self) -> int:
        """Rows extracted in this chunk, bad lines included."""
        return len(self.rows) + len(self.unparseable)


def _describe(url: str) -> str:
    """host:port/db of a URL, without credentials, for error messages."""
    from common.warehouse import url_parts

    parts = url_parts(url)
    return f"{parts['host']}:{parts['port']}/{parts['dbname']}"


def sql_chunks(
    source: SourceSpec, spec: TableSpec, start: dt.datetime, end: dt.datetime, chunk_rows: int = CHUNK_ROWS
) -> Iterator[Chunk]:
    """Rows of `schema.table` whose watermark lies in [start, end), streamed with COPY TO STDOUT.

    A reader thread writes the source's COPY output to a temporary file as fast as the source sends it
    (the source's query never waits for the warehouse, memory stays flat), while chunks are parsed from
    the part already written: the warehouse load overlaps the source read. A source that fails mid-read
    raises SourceUnavailable from the chunk iterator (the loader's transaction then rolls back), and the
    rows parsed must add up to the row count the source reported for its COPY, or nothing is loaded.
    """
    url = connection_url(source.connection)
    columns = list(spec.columns)
    query = sql.SQL(
        "COPY (SELECT {cols} FROM {table} WHERE {wm} >= %s AND {wm} < %s) TO STDOUT WITH (FORMAT csv, NULL {null})"
    ).format(
        cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
        table=sql.Identifier(source.schema, spec.name),
        wm=sql.Identifier(spec.watermark),
        null=sql.Literal(NULL),
    )
    try:
        conn = connect(url, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        raise SourceUnavailable(
            f"source {source.name!r} (connection {source.connection!r} at {_describe(url)}) is unreachable: "
            f"{str(exc).strip()}"
        ) from exc
    try:
        with conn.cursor() as cur:
            # one zone and ISO dates: the loader relies on PostgreSQL's canonical text for its checks
            cur.execute("set timezone = 'UTC'")
            cur.execute("set datestyle = 'ISO, YMD'")
            statement = cur.mogrify(query, (start, end)).decode()
        with _SourceSpool(conn, statement, source, spec, url) as spool:
            if not spool.wait_for_data():
                spool.finish()
                return
            parsed = 0
            for chunk in _csv_stream(spool.follower(), columns, chunk_rows):
                parsed += chunk.size
                yield chunk
            sent = spool.finish()
            if parsed != sent:
                raise SourceUnavailable(
                    f"{source.schema}.{spec.name} from {source.connection!r}: the source sent "
                    f"{sent:,} rows but {parsed:,} were read; nothing was loaded"
                )
    finally:
        conn.close()


class _SourceSpool:
    """A source COPY TO STDOUT running in a thread into a temporary file that can be read while it grows."""

    def __init__(
        self,
        conn: psycopg2.extensions.connection,
        statement: str,
        source: SourceSpec,
        spec: TableSpec,
        url: str,
    ) -> None:
        self._conn, self._statement = conn, statement
        self._where = (source, spec, url)
        self.file = tempfile.TemporaryFile(buffering=1 << 20)
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.rows = 0
        self._thread = threading.Thread(target=self._run, name=f"source-{spec.name}", daemon=True)

    def __enter__(self) -> _SourceSpool:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done.is_set():  # the consumer stopped early or failed: stop the source query
            try:
                self._conn.cancel()
            except psycopg2.Error:
                pass
        self._thread.join()
        self.file.close()

    def _run(self) -> None:
        source, spec, url = self._where
        try:
            with self._conn.cursor() as cur:
                cur.copy_expert(self._statement, self.file)
                self.rows = cur.rowcount
        except psycopg2.errors.UndefinedTable as exc:
            self.error = SourceUnavailable(
                f"source table {source.schema}.{spec.name} not found in {source.connection!r} ({_describe(url)})"
            )
            self.error.__cause__ = exc
        except psycopg2.Error as exc:
            self.error = SourceUnavailable(
                f"reading {source.schema}.{spec.name} from {source.connection!r} failed: {str(exc).strip()}"
            )
            self.error.__cause__ = exc
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self.error = exc
        finally:
            try:
                self.file.flush()
            finally:
                self.done.set()

    def written(self) -> int:
        """Bytes the reader thread has handed to the file so far (what a follower may read)."""
        return os.fstat(self.file.fileno()).st_size

    def wait_for_data(self) -> bool:
        """Wait until the first bytes are written (True) or the source sent nothing (False)."""
        while not self.done.wait(0.005):
            if self.written():
                return True
        if self.error is not None:
            raise self.error
        return self.written() > 0

    def finish(self) -> int:
        """Wait for the reader; re-raise its error; the row count the source reported for its COPY."""
        self.done.wait()
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.rows

    def follower(self) -> _Follower:
        return _Follower(self)


class _Follower(io.RawIOBase):
    """Reads a _SourceSpool's file from the start while it is being written; end of file once the source
    is done. A read waits until it can be filled (or the source ended), so the parser gets whole blocks."""

    def __init__(self, spool: _SourceSpool) -> None:
        self._spool = spool
        self._fd = spool.file.fileno()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            done = self._spool.done.is_set()  # read before the size: nothing written after done
            data = os.pread(self._fd, len(view) - filled, self._pos)
            if data:
                view[filled : filled + len(data)] = data
                filled += len(data)
                self._pos += len(data)
                continue
            if done:
                if self._spool.error is not None:
                    raise self._spool.error
                break
            self._spool.done.wait(0.005)
        return filled


def _csv_stream(spool: IO[bytes] | io.RawIOBase, columns: list[str], chunk_rows: int) -> Iterator[Chunk]:
    """PostgreSQL CSV (nulls as \\N) in blocks of about chunk_rows rows, every column as text.

    Quoted values may hold line breaks (a note, an address): the parser follows the quotes.
    """
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        spool,
        read_options=pacsv.ReadOptions(column_names=columns, block_size=max(chunk_rows * 150, 1 << 20)),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns},
            null_values=[NULL],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" is an empty string, only unquoted \\N is null
        ),
    )
    for batch in reader:
        if batch.num_rows:
            yield Chunk(pa.Table.from_batches([batch]))


def landing_days(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """The calendar days a file-drop interval covers; intervals must be whole days."""
    if (start.hour, start.minute, start.second, start.microsecond) != (0, 0, 0, 0) or end.time() != dt.time(
        0
    ):
        raise ValueError(f"file-drop intervals must start and end at midnight, got [{start}, {end})")
    days = (end.date() - start.date()).days
    return [start.date() + dt.timedelta(days=i) for i in range(days)]


def file_drop_chunks(
    source: SourceSpec, spec: TableSpec, start: dt.datetime, end: dt.datetime, chunk_rows: int = CHUNK_ROWS
) -> Iterator[Chunk]:
    """Rows of `<landing>/<source>/<YYYY-MM-DD>/<table>.csv|.parquet` for every day of the interval.

    A missing file means the source dropped nothing for that day. A file that cannot be read as a whole
    raises MalformedFile naming it; single lines that cannot be loaded (wrong number of fields, bytes
    that are not UTF-8, a NUL byte, a field over MAX_FIELD_CHARS) are handed on as unparseable, with
    their line number and reason, for quarantine.
    """
    for day in landing_days(start, end):
        folder = source.landing_dir / source.name / day.isoformat()
        csv_path, parquet_path = folder / f"{spec.name}.csv", folder / f"{spec.name}.parquet"
        if csv_path.exists():
            yield from _csv_file(csv_path, spec, chunk_rows)
        if parquet_path.exists():
            yield from _parquet_file(parquet_path, spec, chunk_rows)


def _csv_file(path: Path, spec: TableSpec, chunk_rows: int) -> Iterator[Chunk]:
    columns = list(spec.columns)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MalformedFile(f"{path}: cannot be read ({exc})") from exc
    # undecodable bytes survive as surrogates, so that only their lines are quarantined
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # oversize fields are judged per line below
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        missing = [c for c in columns if c not in header]
        if missing:
            raise MalformedFile(f"{path}: header lacks columns {missing} (has {_shown(header)})")
        positions = [header.index(c) for c in columns]
        rows: list[list[str | None]] = []
        bad: list[dict[str, Any]] = []
        for fields in reader:
            if not fields:
                continue  # blank line
            problem = (
                ("unparseable_line", f"has {len(fields)} fields, expected {len(header)}")
                if len(fields) != len(header)
                else _field_problem(columns, [fields[p] for p in positions])
            )
            if problem:
                bad.append(_bad_line(path, reader.line_num, problem, fields, len(header)))
            else:
                rows.append([fields[p] if fields[p] != "" else None for p in positions])
            if len(rows) + len(bad) >= chunk_rows:
                yield Chunk(pd.DataFrame(rows, columns=columns, dtype=object), bad)
                rows, bad = [], []
    except csv.Error as exc:
        raise MalformedFile(f"{path}: line {reader.line_num}: not readable as CSV ({exc})") from exc
    if rows or bad:
        yield Chunk(pd.DataFrame(rows, columns=columns, dtype=object), bad)


def _field_problem(columns: list[str], values: list[Any]) -> tuple[str, str] | None:
    """(rule, reason) of the first value that cannot be loaded as text: oversize, NUL byte, not UTF-8."""
    for name, value in zip(columns, values, strict=True):
        if not isinstance(value, str):
            continue
        if len(value) > MAX_FIELD_CHARS:
            return "oversize_field", f"field {name} has {len(value)} characters (at most {MAX_FIELD_CHARS})"
        if "\x00" in value:
            return "nul_byte", f"field {name} contains a NUL byte"
        if not value.isascii() and _SURROGATE.search(value):
            return "bad_encoding", f"field {name} is not valid UTF-8"
    return None


def _shown(value: Any) -> Any:
    """A value as quarantine's jsonb can hold it: bad bytes and NULs as U+FFFD, long text cut."""
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if not isinstance(value, str):
        return value
    clean = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "\ufffd")
    if len(clean) > MAX_FIELD_CHARS:
        return clean[:SHOWN_CHARS] + f"... ({len(clean)} characters)"
    return clean


def _bad_line(
    path: Path, line_no: int, problem: tuple[str, str], fields: list[Any], expected: int, unit: str = "line"
) -> dict[str, Any]:
    """An unparseable entry for quarantine: file, line (or Parquet row) number, rule, reason, the fields."""
    rule, reason = problem
    return {
        "file": str(path),
        "line_no": line_no,
        "rule": rule,
        "reason": f"{unit} {line_no} {reason}",
        "fields": _shown(fields),
        "expected_fields": expected,
    }


def _parquet_file(path: Path, spec: TableSpec, chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    columns = list(spec.columns)
    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any reader error means the file is unusable as a whole
        raise MalformedFile(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in columns if c not in handle.schema_arrow.names]
    if missing:
        raise MalformedFile(f"{path}: Parquet file lacks columns {missing}")
    first = 1
    try:
        for batch in handle.iter_batches(batch_size=chunk_rows, columns=columns):
            frame = batch.to_pandas()
            text = pd.DataFrame({c: _as_text(frame[c]) for c in columns})
            bad: list[dict[str, Any]] = []
            for i, values in enumerate(text.itertuples(index=False, name=None)):
                problem = _field_problem(columns, list(values))
                if problem:
                    bad.append(_bad_line(path, first + i, problem, list(values), len(columns), "row"))
            if bad:
                text = text.drop(index=[b["line_no"] - first for b in bad]).reset_index(drop=True)
            first += len(frame)
            yield Chunk(text, bad)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise MalformedFile(f"{path}: row group near row {first} not readable ({exc})") from exc


def _as_text(values: pd.Series) -> pd.Series:
    """Parquet values as the text the validator expects (nulls stay missing, dates ISO)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        suffix = ""
        if values.dt.tz is not None:
            values, suffix = values.dt.tz_convert("UTC"), "+00:00"
        text = values.dt.strftime("%Y-%m-%d %H:%M:%S.%f") + suffix
        return text.astype(object).where(values.notna(), None)
    return values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v))


def read_chunks(source: SourceSpec, spec: TableSpec, start: dt.datetime, end: dt.datetime) -> Iterator[Chunk]:
    """The configured connector of the source."""
    if source.kind == "file_drop":
        return file_drop_chunks(source, spec, start, end)
    return sql_chunks(source, spec, start, end)
