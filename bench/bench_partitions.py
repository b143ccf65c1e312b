"""Benchmark: scoring partitioned over workers, one worker against several (issue: two workers score at
least 1.6x as fast as one).

    python -m bench.bench_partitions --customers 1000000 --workers 1 2

Sets up a throw-away warehouse database with a synthetic feature snapshot of --customers customers and
a real champion trained on synthetic data in a temporary MLflow store (as bench.bench_scoring does).
Then, for each worker count W, plans the day in W partitions (ratings.partitions.plan_scoring, as the
DAG's plan_scoring task) and starts W worker processes at once, each of which loads the planned model
version from the registry and stages its partition (ratings.partitions.stage_partition, as a
score_partition task on a Celery worker does). The time of a count is from the start of the workers to
the end of the last; it includes each worker's model load, which a real worker pays too, and the load
is also reported apart. The last count's day is then published (ratings.publish.publish_partitions) to
check that the partitions make up the whole book.

Speed-up W = time(1 worker) / time(W workers). The machine's cores bound it: the server's work (the
snapshot's COPY out, the staged rows' COPY in, the reference-rating lookups) runs on the same cores as
the workers, so a 2-core machine cannot show what two worker machines would.

The last line printed is one JSON document with every figure (bench/run_all.py keeps it).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psutil

from bench.bench_scoring import champion, fill_features
from bench.memory import PeakRss
from devtools.scratch import create_database, drop_database, server_url

DAY = date(2026, 1, 31)


def worker(url: str, run_id: str, partition: int, chunk_size: int, started: float) -> dict:
    """One Airflow worker's score_partition: load the planned version, stage the partition."""
    from ml.registry import load_champion
    from ratings.partitions import planned_version, stage_partition

    with PeakRss() as mem:
        begin = time.perf_counter()
        model = load_champion(planned_version(url, DAY, run_id))
        loaded = time.perf_counter()
        staged = stage_partition(url, DAY, run_id, partition, model, chunk_size=chunk_size)
        end = time.perf_counter()
    return {
        "partition": partition,
        "rows": staged.rows,
        "start_delay_seconds": round(begin - started, 2),
        "load_model_seconds": round(loaded - begin, 2),
        "stage_seconds": round(end - loaded, 2),
        "peak_rss_mib": round(mem.peak / 2**20),
    }


def run_workers(url: str, workers: int, chunk_size: int, model) -> dict:
    """Plan the day in `workers` partitions and stage them in as many processes at once."""
    from ratings.partitions import plan_scoring

    run_id = f"bench-{workers}-workers"
    plan_scoring(url, DAY, run_id, model, partitions=workers)
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters, as separate worker hosts would be
    cpu_before = psutil.cpu_times()
    start = time.perf_counter()
    with spawn.Pool(workers) as pool:
        done = pool.starmap(worker, [(url, run_id, p, chunk_size, start) for p in range(workers)])
    seconds = time.perf_counter() - start
    cpu_after = psutil.cpu_times()
    busy = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("user", "system"))
    rows = sum(d["rows"] for d in done)
    return {
        "workers": workers,
        "run_id": run_id,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "machine_cpu_busy_share": round(busy / (seconds * (psutil.cpu_count() or 1)), 2),
        "partitions": done,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time")
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-partitions-"))
    os.environ.update(CRM_RISK_STATE_DIR=str(tmp / "state"), MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
                      MLFLOW_ARTIFACT_ROOT=str(tmp / "artifacts"))

    from common.migrate import migrate
    from ratings.publish import publish_partitions

    admin = server_url()
    name = f"bench_partitions_{uuid.uuid4().hex[:8]}"
    url = create_database(admin, name)
    try:
        migrate(url)
        print(f"{args.customers:,} customers on {DAY}, workers {args.workers}, {psutil.cpu_count()} cores",
              flush=True)
        print(f"synthetic snapshot loaded in {fill_features(url, args.customers, [DAY]):.0f} s", flush=True)
        model = champion("train")
        print(f"model {model.name} v{model.version}", flush=True)
        figures: dict = {"customers": args.customers, "cores": psutil.cpu_count(), "runs": []}
        for count in args.workers:
            run = run_workers(url, count, args.chunk_size, model)
            figures["runs"].append(run)
            loads = ", ".join(f"{p['load_model_seconds']:.1f}" for p in run["partitions"])
            print(f"{count} worker(s): {run['rows']:,} rows in {run['seconds']:.1f} s = {run['rows_per_s']:,} rows/s"
                  f" (model load per worker {loads} s; machine CPU busy {run['machine_cpu_busy_share']:.0%};"
                  f" peak RSS per worker {max(p['peak_rss_mib'] for p in run['partitions']):,} MiB)", flush=True)
            if run["rows"] != args.customers:
                raise SystemExit(f"{count} worker(s) staged {run['rows']:,} rows, not {args.customers:,}")
        last = figures["runs"][-1]
        start = time.perf_counter()
        result = publish_partitions(DAY, last["run_id"], url, champion=model)
        figures["publish_seconds"] = round(time.perf_counter() - start, 2)
        print(f"published {result.rows_scored:,} rows of {len(last['partitions'])} partitions in "
              f"{figures['publish_seconds']:.1f} s", flush=True)
        base = next((r for r in figures["runs"] if r["workers"] == 1), None)
        if base:
            figures["speedup"] = {str(r["workers"]): round(base["seconds"] / r["seconds"], 2) for r in figures["runs"]}
            for workers, speedup in figures["speedup"].items():
                print(f"speed-up with {workers} worker(s): {speedup}x", flush=True)
        print(json.dumps(figures), flush=True)
    finally:
        if not args.keep:
            drop_database(admin, name)


if __name__ == "__main__":
    main()
