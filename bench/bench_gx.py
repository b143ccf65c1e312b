"""Benchmark: how long the feature-snapshot quality gate takes on a large synthetic snapshot.

    python -m bench.bench_gx --customers 1000000 [--history 7] [--url postgresql://...] [--keep]

Creates a scratch database on the warehouse's server, migrates it, fills marts.customer_features with
synthetic snapshots with the columns of config/features.yml - `--history` earlier days (1: the volume
check against the previous snapshot runs; >= min_snapshots of config/quality.yml: the distribution
bands are learned from them too) and the rated day D - then times run_gate("features", as_of_date=D)
- every expectation of the suite, run in PostgreSQL through GX - and drops the database again.
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from datetime import date, timedelta

import sqlalchemy as sa

from common.config import load_config
from common.warehouse import WAREHOUSE, connection_url, transaction
from devtools.scratch import create_database, drop_database

D = date(2026, 6, 30)
_TYPES = {"numeric": "double precision", "categorical": "text", "flag": "integer", "date": "date"}
_EXPRESSIONS = {  # plausible values per feature; anything else numeric: a small count
    "dpd_current": "floor(power(random(), 6) * 120)",
    "max_dpd_3m": "floor(power(random(), 5) * 20)",
    "max_dpd_6m": "floor(power(random(), 4) * 150)",
    "max_dpd_12m": "20 + floor(power(random(), 3) * 100)",  # at least the 3-month maximum, as in real data
    "share_paid_late_12m": "power(random(), 3)",
    "avg_days_late_12m": "floor(power(random(), 3) * 40)",
    "overdue_share_of_balance": "power(random(), 4)",
    "open_receivables": "round((random() * 50000)::numeric, 2)",
    "credit_limit": "10000 * (1 + floor(random() * 10))",
    "limit_utilisation": "random() * 1.1",
    "utilisation_trend_3m": "random() - 0.5",
    "invoice_amount_3m": "round((random() * 60000)::numeric, 2)",
    "invoice_amount_12m": "round((random() * 240000)::numeric, 2)",
    "invoice_amount_trend": "0.5 + random()",
    "open_dispute_amount": "case when random() < 0.05 then round((random() * 5000)::numeric, 2) else 0 end",
    "credit_note_amount_12m": "round((random() * 2000)::numeric, 2)",
    "negative_outcome_share_6m": "random() * 0.6",
    "days_since_last_contact": "floor(random() * 200)",
    "max_complaint_severity_6m": "floor(random() * 5)",
    "tenure_months": "floor(random() * 240)",
    "industry": "(array['retail','construction','manufacturing','logistics','it_services'])[1 + floor(random() * 5)::int]",
    "region": "(array['north','south','east','west'])[1 + floor(random() * 4)::int]",
    "size_band": "(array['micro','small','medium','large'])[1 + floor(random() * 4)::int]",
    "won_order_amount_12m": "round((random() * 100000)::numeric, 2)",
    "bureau_score": "case when random() < 0.9 then 300 + floor(random() * 600) end",
    "bureau_score_change_6m": "floor(random() * 100) - 50",
    "in_default": "(random() < 0.03)::int",
    "last_default_date": "null",
}


def fill_snapshot(url: str, day: date, customers: int) -> float:
    """Insert one synthetic snapshot with generate_series; returns seconds taken."""
    features = load_config("features")["features"]
    exprs = [_EXPRESSIONS.get(f["name"], "floor(random() * 10)") for f in features]
    names = ", ".join(f["name"] for f in features)
    began = time.monotonic()
    with transaction(url) as cur:
        cur.execute(
            f"insert into marts.customer_features (customer_id, as_of_date, {names}) "
            f"select 'c' || lpad(g::text, 8, '0'), %s, {', '.join(exprs)} from generate_series(1, %s) g",
            (day, customers),
        )
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--url", help="server to create the scratch database on (default: the warehouse's)")
    parser.add_argument("--history", type=int, default=1, help="earlier snapshots before D (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from common.migrate import migrate
    from expectations.gate import QualityGateFailed, run_gate

    server = sa.make_url(args.url or connection_url(WAREHOUSE))
    name = f"bench_gx_{uuid.uuid4().hex[:8]}"
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    url = create_database(admin, name)
    try:
        migrate(url)
        features = load_config("features")["features"]
        cols = ", ".join(f"{f['name']} {_TYPES[f['kind']]}" for f in features)
        with transaction(url) as cur:
            cur.execute(f"create table marts.customer_features (customer_id text not null, "
                        f"as_of_date date not null, {cols})")
        load = sum(fill_snapshot(url, D - timedelta(days=back), args.customers)
                   for back in range(args.history, -1, -1))
        with transaction(url) as cur:
            cur.execute("create unique index on marts.customer_features (as_of_date, customer_id)")
            cur.execute("analyze marts.customer_features")
        print(f"bench_gx: {args.history + 1} snapshots x {args.customers:,} customers generated in {load:.1f}s",
              flush=True)

        began = time.monotonic()
        try:
            result = run_gate("features", as_of_date=D, url=url, run_id="bench")
            outcome = (f"{result.evaluated} expectations evaluated, {result.passed} passed, "
                       f"{result.warnings} warnings, {result.critical} critical")
        except QualityGateFailed as exc:
            outcome = f"gate failed: {exc}"
        seconds = time.monotonic() - began
        print(f"bench_gx: features gate on {args.customers:,} rows took {seconds:.1f}s "
              f"({args.customers / seconds:,.0f} rows/s): {outcome}", flush=True)
    finally:
        if not args.keep:
            drop_database(admin, name)


if __name__ == "__main__":
    main()
