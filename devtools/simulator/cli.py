"""Source-system simulator: writes a CRM and a finance database with learnable credit risk.

python -m ingest.simulate --customers 2000 --start 2024-01-01 --end 2025-06-30 --seed 7 [--dirty-rate 0.01]
python -m ingest.simulate --customers 2000 --start 2024-01-01 --end 2025-07-01 --seed 7 \
    --publish-events-from 2025-07-01 --rate 1 [--max-events 300]     # credit events on Redis (docs/events.md)
"""

from __future__ import annotations

import argparse

from devtools.simulator.customers import Lifecycle
from devtools.simulator.write import simulate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--start", required=True, help="first day of the simulated history (YYYY-MM-DD)")
    parser.add_argument("--end", required=True, help="last day the sources have reached (YYYY-MM-DD)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dirty-rate", type=float, default=0.0, help="share of rows copied as bad rows")
    defaults = Lifecycle()
    parser.add_argument(
        "--block-after-dpd",
        type=float,
        default=defaults.block_after_dpd,
        help="days past due at which the credit team blocks a defaulted account (credit stop)",
    )
    parser.add_argument(
        "--write-off-after-dpd",
        type=float,
        default=defaults.write_off_after_dpd,
        help="days past due at which a defaulted account is written off and closed",
    )
    parser.add_argument(
        "--publish-events-from",
        help="instead of rewriting the sources (which must hold the day before this one), write the rows of "
        "this day up to --end one by one and publish their credit events on Redis (docs/events.md)",
    )
    parser.add_argument(
        "--rate", type=float, default=1.0, help="credit events per second (with --publish-events-from)"
    )
    parser.add_argument(
        "--max-events", type=int, help="stop publishing after this many (the rest is written silently)"
    )
    parser.add_argument(
        "--redis-url", help="default: AIRFLOW_CONN_CREDIT_EVENTS, else redis://127.0.0.1:6379/0"
    )
    args = parser.parse_args(argv)
    lifecycle = Lifecycle(block_after_dpd=args.block_after_dpd, write_off_after_dpd=args.write_off_after_dpd)
    if args.publish_events_from:
        if lifecycle != defaults:
            parser.error("--publish-events-from writes the book with the default arrears lifecycle")
        from datetime import date

        from devtools.simulator.events import publish_events

        for _ in publish_events(
            args.customers,
            date.fromisoformat(args.start),
            date.fromisoformat(args.publish_events_from),
            date.fromisoformat(args.end),
            seed=args.seed,
            rate=args.rate,
            max_events=args.max_events,
            redis_url=args.redis_url,
        ):
            pass
        return
    simulate(
        args.customers, args.start, args.end, seed=args.seed, dirty_rate=args.dirty_rate, lifecycle=lifecycle
    )


if __name__ == "__main__":
    main()
