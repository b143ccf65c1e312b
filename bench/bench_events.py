"""Benchmark: time from a credit event's publish to its new rating row visible to bi_reader.

    python -m bench.bench_events --customers 100000 --rate 1 --seconds 300   # the goal: p95 < 60 s
    python -m bench.bench_events --customers 10000 --rate 1 --seconds 120    # quicker

A book is simulated up to the eve of the event day, bootstrapped, given its first champion and rated by
the daily run, as in production. Then the local Airflow runs as `make airflow` runs it (api-server,
dag-processor, scheduler, triggerer; PostgreSQL metadata) with crm_credit_events unpaused, and the
simulator writes the event day's source rows in time order and publishes their credit events on Redis at
`--rate` per second for `--seconds` (`python -m ingest.simulate ... --publish-events-from`). A poller
connected as bi_reader sees when each event's customer shows an intraday rating scored after the
publish in ratings.current_customer_ratings. Last, the daily run of the event day must leave no
intraday rating behind.

Databases bench_events_<n>_* are created on the server of TEST_WAREHOUSE_URL, else 127.0.0.1:5432, and
dropped unless --keep; the figures go to bench/results/events.json. Simulated data: development mode
(CRM_RISK_DEVELOPMENT=1, the development pseudonym key) unless the environment says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from common.warehouse import transaction
from devtools.scratch import create_database, drop_database, server_url

START = dt.date(2024, 1, 1)
AS_OF = dt.date(2026, 10, 31)
EVENT_DAY = AS_OF + dt.timedelta(days=1)
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _timed(label: str, fn: Any) -> Any:
    began = time.monotonic()
    result = fn()
    print(f"{label}: {time.monotonic() - began:.1f}s", flush=True)
    return result


def rated_book(customers: int, seed: int) -> None:
    """Sources up to AS_OF, history loaded, first champion trained, AS_OF rated by the daily tasks."""
    from devtools.simulator import simulate
    from ml.train import train_and_register
    from pipeline import daily
    from pipeline.bootstrap import load_history

    _timed("simulate", lambda: simulate(customers, START, AS_OF, seed=seed, verbose=False))
    _timed("initial load + feature history", lambda: load_history(AS_OF, verbose=False))
    run_id = "bench_daily"
    for source in ("crm", "finance"):
        _timed(f"daily extract {source}", lambda s=source: daily.extract(s, _midnight(AS_OF), _midnight(EVENT_DAY), run_id))
    _timed("daily features", lambda: daily.build_features(AS_OF, run_id))
    _timed("training (first champion)", lambda: train_and_register(as_of_date=AS_OF))
    daily.check_champion(AS_OF, run_id)
    _timed("daily score + publish", lambda: daily.score(AS_OF, run_id))


class Watcher(threading.Thread):
    """Polls ratings.current_customer_ratings as bi_reader; records when each awaited customer's intraday
    rating scored after its event's publish first shows."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.waiting: dict[str, float] = {}  # customer_id -> publish time (epoch), first event not yet seen
        self.seen: list[float] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def expect(self, customer_id: str, published_at: float) -> None:
        with self.lock:
            self.waiting.setdefault(customer_id, published_at)

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                ids = list(self.waiting)
            if ids:
                with transaction(self.url) as cur:
                    cur.execute("set local role bi_reader")
                    cur.execute(
                        "select customer_id, extract(epoch from scored_at) from ratings.current_customer_ratings"
                        " where rating_kind = 'intraday' and customer_id = any(%s)",
                        (ids,),
                    )
                    found = cur.fetchall()
                now = time.time()
                with self.lock:
                    for customer, scored in found:
                        published = self.waiting.get(customer)
                        if published is not None and float(scored) >= published - 0.001:
                            self.seen.append(now - published)
                            del self.waiting[customer]
            time.sleep(0.25)


def main() -> None:  # noqa: PLR0915 - one linear script of stages
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=300.0, help="how long events are published")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from common.pseudonym import pseudonymise
    from devtools.scheduler import running, scheduler_env
    from devtools.simulator.events import publish_events

    admin = server_url()
    prefix = f"bench_events_{args.customers}"
    names = {role: f"{prefix}_{role}" for role in ("crm", "finance", "warehouse", "airflow")}
    urls = {role: create_database(admin, name, replace=True) for role, name in names.items()}
    state = Path(tempfile.mkdtemp(prefix="bench-events-"))
    channel = f"credit_events_bench_{uuid.uuid4().hex[:8]}"
    os.environ.pop("WAREHOUSE_URL", None)
    os.environ.update({
        "AIRFLOW_CONN_WAREHOUSE": urls["warehouse"].replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_CRM_SOURCE": urls["crm"].replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_FINANCE_SOURCE": urls["finance"].replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_CREDIT_EVENTS": REDIS, "CREDIT_EVENTS_CHANNEL": channel,
        "CRM_RISK_STATE_DIR": str(state), "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
        "CRM_RISK_DEADLINE_ALERTS": "off", "CRM_RISK_DEVELOPMENT": os.environ.get("CRM_RISK_DEVELOPMENT", "1"),
    })
    summary: dict[str, Any] = {"customers": args.customers, "rate_per_s": args.rate, "seconds": args.seconds}
    try:
        began = time.monotonic()
        rated_book(args.customers, args.seed)
        summary["setup_s"] = round(time.monotonic() - began, 1)
        env = scheduler_env(state / "airflow", metadata_url=urls["airflow"], scheduled_runs=True)
        watcher = Watcher(urls["warehouse"])
        with running(env, unpause=("crm_credit_events",), triggerer=True) as local:
            import redis

            bus = redis.Redis.from_url(REDIS)
            while not dict(bus.pubsub_numsub(channel)).get(channel.encode()):
                local.check_alive()
                time.sleep(1)
            watcher.start()
            published = 0
            for event in publish_events(args.customers, START, EVENT_DAY, EVENT_DAY, seed=args.seed, rate=args.rate,
                                        max_events=int(args.rate * args.seconds), channel=channel):
                if event["account_id"]:
                    watcher.expect(pseudonymise(event["account_id"]), event["published_at"])
                published += 1
            deadline = time.monotonic() + 180
            while watcher.waiting and time.monotonic() < deadline:
                local.check_alive()
                time.sleep(1)
            watcher.stop.set()
            with local.metadata.connect() as conn:
                import sqlalchemy as sa

                runs = conn.execute(sa.text("select state, count(*) from dag_run where dag_id = 'crm_credit_events'"
                                            " group by 1")).all()
        latencies = np.array(watcher.seen)
        summary.update({
            "events_published": published, "customers_awaited": len(watcher.seen) + len(watcher.waiting),
            "rerated_seen": len(watcher.seen), "never_seen": len(watcher.waiting),
            "dag_runs": {state: int(n) for state, n in runs},
            "latency_p50_s": round(float(np.percentile(latencies, 50)), 1) if len(latencies) else None,
            "latency_p95_s": round(float(np.percentile(latencies, 95)), 1) if len(latencies) else None,
            "latency_max_s": round(float(latencies.max()), 1) if len(latencies) else None,
        })
        from pipeline import daily

        run_id = "bench_daily_event_day"
        for source in ("crm", "finance"):
            daily.extract(source, _midnight(EVENT_DAY), _midnight(EVENT_DAY + dt.timedelta(days=1)), run_id)
        daily.build_features(EVENT_DAY, run_id)
        daily.score(EVENT_DAY, run_id)
        with transaction(urls["warehouse"]) as cur:
            cur.execute("select count(*) from ratings.customer_rating_versions where rating_kind = 'intraday'")
            summary["intraday_left_after_daily_run"] = cur.fetchone()[0]
    finally:
        if not args.keep:
            for name in names.values():
                drop_database(admin, name)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "events.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str), flush=True)


if __name__ == "__main__":
    main()
