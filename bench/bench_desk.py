"""Benchmark: the credit desk's order-time check under load (p99 latency and throughput on loopback).

    python -m bench.bench_desk --customers 100000 [--rps 300] [--seconds 60] [--url postgresql://...] [--keep]

Creates a scratch database on the warehouse's server (or --url's), migrates it, publishes a synthetic
rated book of --customers customers straight into ratings.* (one rating version each, exposure,
2 % with an open critical warning), issues a sales token, starts `python -m desk serve` on a free
loopback port, and drives POST /v1/credit-checks with locust headless for --seconds at --rps (users x
a Poisson stream of 5 checks/s each). Prints locust's figures for the check (requests, failures, p50/p95/p99 ms,
requests/s) and whether the goal (p99 < 25 ms at 300 requests/s) was met, as one JSON document.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa

from common.migrate import migrate
from common.paths import REPO_ROOT
from common.pseudonym import set_config_statement, sql_expression
from common.warehouse import transaction
from desk.auth import issue_token
from devtools.scratch import create_database, drop_database, server_url

GOAL_P99_MS, GOAL_RPS = 25.0, 300
RATE_PER_USER = 5.0

_SEED = """
insert into ratings.risk_segments values
    ('low', 1, '{AAA,AA,A}', 12, 'bench'), ('medium', 2, '{BBB,BB}', 6, 'bench'),
    ('high', 3, '{B,CCC}', 3, 'bench'), ('very_high', 4, '{CC,D}', 1, 'bench');
insert into ratings.rated_dates (as_of_date, run_id, scored_at, model_name, model_version, rows_published)
values (current_date, 'bench', now(), 'crm_credit_pd', '1', %(n)s);
create temporary table bench_book as
select
    {customer_id} as customer_id,
    (array['AAA','AA','A','BBB','BB','B','CCC','CC','D'])[1 + least(8, floor(power(random(), 2) * 9))::int] as grade,
    10000 * (1 + floor(random() * 20)) as credit_limit
from generate_series(0, %(n)s - 1) as i;
insert into ratings.customer_rating_versions (
    customer_id, valid_from_date, pd_12m, score, rating_grade, risk_segment, current_credit_limit,
    recommended_credit_limit, decision, decision_rationale, reason_codes, model_name, model_version, run_id,
    scored_at)
select
    customer_id, current_date, 0.001 + random() * 0.05, 600, grade,
    case when grade in ('AAA','AA','A') then 'low' when grade in ('BBB','BB') then 'medium'
         when grade in ('B','CCC') then 'high' else 'very_high' end,
    credit_limit, credit_limit,
    case when grade = 'D' then 'hold' when grade in ('B','CCC','CC') then 'review' else 'approve' end,
    'bench', '{PAY02,EXP02}', 'crm_credit_pd', '1', 'bench', now()
from bench_book;
insert into desk.customer_exposure (customer_id, as_of_date, open_receivables)
select customer_id, current_date - 1, round((random() * credit_limit * 0.8)::numeric, 2) from bench_book;
insert into ratings.credit_warnings (customer_id, rule_code, severity, message, first_seen_date, last_seen_date,
    status)
select customer_id, 'DPD_60', 'critical', 'Invoices 60+ days past due', current_date - 5, current_date, 'open'
from bench_book where random() < 0.02;
analyze;
"""


def seed(url: str, customers: int) -> float:
    started = time.monotonic()
    with transaction(url) as cur:
        statement, settings = set_config_statement()
        cur.execute(statement, settings)
        seed = _SEED.replace("{customer_id}", sql_expression("'BENCH-' || lpad(i::text, 7, '0')"))
        cur.execute(seed, {"n": customers})
    return time.monotonic() - started


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stats(prefix: Path) -> dict:
    with open(f"{prefix}_stats.csv") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "POST /v1/credit-checks")
    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
            "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]), "p99_ms": float(row["99%"]),
            "max_ms": float(row["Max Response Time"]), "requests_per_s": round(float(row["Requests/s"]), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rps", type=int, default=GOAL_RPS, help="target requests/s (users x 5/s each)")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--url", help="admin URL of the server to create the scratch database on")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    admin = args.url or server_url()
    name = f"bench_desk_{uuid.uuid4().hex[:8]}"
    url = create_database(admin, name)
    work = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    proc = None
    try:
        migrate(url)
        seconds = seed(url, args.customers)
        print(f"seeded {args.customers:,} rated customers in {seconds:.1f}s", flush=True)
        desk_url = sa.make_url(url).set(username="desk_service", password=None).render_as_string(hide_password=False)
        with transaction(desk_url) as cur:
            sales_token = issue_token(cur, "bench-sales", "sales")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with open(work / "desk.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "desk", "serve", "--port", str(port)], cwd=REPO_ROOT,
                                    env={**os.environ, "DESK_WAREHOUSE_URL": desk_url}, stdout=log,
                                    stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        users = max(1, round(args.rps / RATE_PER_USER))
        prefix = work / "locust"
        print(f"locust: {users} users x {RATE_PER_USER}/s for {args.seconds}s against {base}", flush=True)
        server = psutil.Process(proc.pid)
        cpu_before = server.cpu_times()
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "bench" / "locust_desk.py"), "--headless",
             "-u", str(users), "-r", str(users), "-t", f"{args.seconds}s", "--host", base, "--csv", str(prefix),
             "--only-summary", "--stop-timeout", "5"],
            check=False, cwd=REPO_ROOT, timeout=args.seconds + 120,
            env={**os.environ, "DESK_BENCH_TOKEN": sales_token, "DESK_BENCH_CUSTOMERS": str(args.customers),
                 "DESK_BENCH_RATE": str(RATE_PER_USER)})
        cpu_after = server.cpu_times()
        stats = _stats(prefix)
        server_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        stats["load_average_1m_after"] = round(os.getloadavg()[0], 2)  # the machine is shared: say how busy
        stats["server_cpu_ms_per_request"] = round(server_cpu * 1000 / max(stats["requests"], 1), 2)
        with transaction(url) as cur:
            cur.execute("select outcome, count(*) from desk.credit_checks group by 1 order by 1")
            outcomes = dict(cur.fetchall())
        met = stats["p99_ms"] < GOAL_P99_MS and stats["requests_per_s"] >= GOAL_RPS * 0.95 and not stats["failures"]
        print(json.dumps({"benchmark": "desk credit check", "customers": args.customers, "target_rps": args.rps,
                          "seconds": args.seconds, "users": users, **stats, "checks_recorded": outcomes,
                          "goal": f"p99 < {GOAL_P99_MS:.0f} ms at {GOAL_RPS} requests/s", "goal_met": met},
                         indent=2, default=str))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        if not args.keep:
            drop_database(admin, name)


if __name__ == "__main__":
    main()
