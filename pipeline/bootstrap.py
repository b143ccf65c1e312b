"""Initial load: everything the sources hold before the first daily run, then the feature history.

`python -m pipeline.bootstrap --as-of 2026-10-31` extracts the interval [since, as-of) (since defaults
to 2000-01-01: everything the sources hold) as one batch per table, through the same code path as the
daily extraction, and builds the historical feature snapshots and labels with dbt, so that a first
model can be trained. The daily DAG then takes over from as-of on. Rerunning it replaces the same
batches (and any earlier batches it overlaps) and snapshots.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime
from datetime import time as dtime


def _midnight(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=UTC)


SINCE = date(2000, 1, 1)


def load_history(as_of: date, since: date = SINCE, verbose: bool = True) -> dict:
    """Extract [since, as_of) from both sources, then build feature snapshots up to as_of - 1."""
    from common.migrate import migrate
    from common.transform import build_history
    from ingest.extract import extract_interval

    began = time.monotonic()
    migrate()
    loaded: dict[str, int] = {}
    for source in ("crm", "finance"):  # finance rows reference CRM accounts: CRM first
        for batch in extract_interval(
            source, _midnight(since), _midnight(as_of), replace_overlapping=True, verbose=verbose
        ):
            loaded[batch.batch_id] = batch.loaded
    if verbose:
        print(
            f"bootstrap: loaded {sum(loaded.values()):,} raw rows in {time.monotonic() - began:.1f}s",
            flush=True,
        )
    build_history(date.fromordinal(as_of.toordinal() - 1))
    if verbose:
        print(f"bootstrap: feature history built, {time.monotonic() - began:.1f}s in total", flush=True)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--since",
        type=date.fromisoformat,
        default=SINCE,
        help="start of the initial extraction interval (default: everything)",
    )
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        required=True,
        help="first day the daily DAG will rate; history ends the day before",
    )
    args = parser.parse_args()
    load_history(args.as_of, since=args.since)


if __name__ == "__main__":
    main()
