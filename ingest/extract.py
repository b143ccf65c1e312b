"""Extract a source's tables for a data interval into the raw layer (the entry point the DAG calls).

    python -m ingest.extract --source crm --start 2025-01-01 --end 2025-01-02          # one interval
    python -m ingest.extract --source finance --start 2025-01-01 --end 2025-02-01 --daily  # backfill by day
    python -m ingest.extract --source crm --start 2000-01-01 --end 2025-01-01           # initial load

Extract crm before finance: finance rows are checked against the accounts the warehouse has loaded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from common.warehouse import WAREHOUSE, connection_url
from ingest.connectors import MalformedFile, SourceUnavailable, read_chunks
from ingest.load import BatchResult, OverlappingBatch, load_batch
from ingest.sources import future_tolerance_days, source_spec

__all__ = [
    "BatchResult",
    "MalformedFile",
    "OverlappingBatch",
    "SourceUnavailable",
    "backfill",
    "extract_interval",
]


def _utc(value: dt.datetime | dt.date | str) -> dt.datetime:
    """Interval bounds as aware UTC datetimes; naive values and plain dates are taken as UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def extract_interval(
    source: str,
    interval_start: dt.datetime | dt.date | str,
    interval_end: dt.datetime | dt.date | str,
    *,
    tables: list[str] | None = None,
    replace_overlapping: bool = False,
    verbose: bool = True,
    intraday: bool = False,
) -> list[BatchResult]:
    """Pull every configured table of `source` for [interval_start, interval_end) into raw.

    Each table is one batch, replaced atomically; rerunning the same interval replaces it. Raises
    SourceUnavailable / MalformedFile (retryable task failures) or OverlappingBatch. `intraday`: a
    part of one day loaded early by the credit-event re-rating; the day's daily batch replaces it.
    """
    start, end = _utc(interval_start), _utc(interval_end)
    if start >= end:
        raise ValueError(f"empty data interval [{start}, {end})")
    spec = source_spec(source)
    warehouse = connection_url(WAREHOUSE)
    tolerance = future_tolerance_days()
    results = []
    for table in spec.tables:
        if tables and table.name not in tables:
            continue
        result = load_batch(
            spec,
            table,
            start,
            end,
            read_chunks(spec, table, start, end),
            warehouse,
            replace_overlapping=replace_overlapping,
            tolerance_days=tolerance,
            intraday=intraday,
        )
        if verbose:
            print(
                f"{result.batch_id}: extracted {result.extracted:,}, loaded {result.loaded:,}, "
                f"quarantined {result.quarantined:,} in {result.seconds:.2f}s",
                flush=True,
            )
        results.append(result)
    return results


def backfill(
    source: str, start: dt.date | str, end: dt.date | str, verbose: bool = True
) -> list[BatchResult]:
    """Run extract_interval for every day in [start, end): the same batches daily runs would create."""
    first, last = _utc(start), _utc(end)
    results: list[BatchResult] = []
    day = first
    while day < last:
        results += extract_interval(source, day, min(day + dt.timedelta(days=1), last), verbose=verbose)
        day += dt.timedelta(days=1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, choices=["crm", "finance", "all"])
    parser.add_argument("--start", required=True, help="interval start (date or ISO timestamp, UTC)")
    parser.add_argument("--end", required=True, help="interval end, exclusive")
    parser.add_argument("--daily", action="store_true", help="one batch per day instead of one for the range")
    parser.add_argument(
        "--replace-overlapping",
        action="store_true",
        help="replace loaded batches that the interval covers whole",
    )
    parser.add_argument("--table", action="append", help="only this table (repeatable)")
    args = parser.parse_args(argv)
    from common.migrate import migrate

    migrate()  # a fresh environment has no raw tables yet; applied migrations are skipped
    sources = ["crm", "finance"] if args.source == "all" else [args.source]
    try:
        for source in sources:
            if args.daily:
                backfill(source, args.start, args.end)
            else:
                extract_interval(
                    source,
                    args.start,
                    args.end,
                    tables=args.table,
                    replace_overlapping=args.replace_overlapping,
                )
    except (SourceUnavailable, MalformedFile, OverlappingBatch) as exc:
        print(f"extract failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
