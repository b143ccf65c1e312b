"""Source-system simulator: writes a CRM and a finance database with learnable credit risk.

python -m ingest.simulate --customers 2000 --start 2024-01-01 --end 2025-06-30 --seed 7 [--dirty-rate 0.01]
"""

from __future__ import annotations

import argparse

from devtools.simulator.write import simulate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--start", required=True, help="first day of the simulated history (YYYY-MM-DD)")
    parser.add_argument("--end", required=True, help="last day the sources have reached (YYYY-MM-DD)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dirty-rate", type=float, default=0.0, help="share of rows copied as bad rows")
    args = parser.parse_args(argv)
    simulate(args.customers, args.start, args.end, seed=args.seed, dirty_rate=args.dirty_rate)


if __name__ == "__main__":
    main()
