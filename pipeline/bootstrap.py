"""Initial load: everything the sources hold before the first daily run, then the feature history.

`python -m pipeline.bootstrap --history-start 2024-11-01 --as-of 2026-10-31` extracts the interval
[history-start, as-of) as one batch per table (the same code path as the daily extraction) and builds
the historical feature snapshots and labels with dbt, so that a first model can be trained. The daily
DAG then takes over from as-of on. Rerunning it replaces the same batches and snapshots.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime
from datetime import time as dtime

from common.warehouse import WAREHOUSE


def _midnight(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=UTC)


def load_history(history_start: date, as_of: date, url: str = WAREHOUSE, verbose: bool = True) -> dict:
    """Extract [history_start, as_of) from both sources, then build feature snapshots up to as_of - 1."""
    from common.migrate import migrate
    from common.transform import build_history
    from ingest.extract import extract_interval

    began = time.monotonic()
    migrate(url)
    loaded: dict[str, int] = {}
    for source in ("crm", "finance"):  # finance rows reference CRM accounts: CRM first
        for batch in extract_interval(source, _midnight(history_start), _midnight(as_of)):
            loaded[batch.table if hasattr(batch, "table") else str(batch)] = getattr(batch, "loaded", 0)
    if verbose:
        print(f"bootstrap: loaded {sum(loaded.values()):,} raw rows in {time.monotonic() - began:.1f}s", flush=True)
    build_history(date.fromordinal(as_of.toordinal() - 1))
    if verbose:
        print(f"bootstrap: feature history built, {time.monotonic() - began:.1f}s in total", flush=True)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history-start", type=date.fromisoformat, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True,
                        help="first day the daily DAG will rate; history ends the day before")
    args = parser.parse_args()
    load_history(args.history_start, args.as_of)


if __name__ == "__main__":
    main()
