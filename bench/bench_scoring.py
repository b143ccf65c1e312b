"""Benchmark: score and publish N customers for a date (rows/s and peak memory of the scoring task).

    python bench/bench_scoring.py --customers 1000000

Sets up a throw-away warehouse database (on TEST_WAREHOUSE_URL, else 127.0.0.1:5432, else the embedded
server), fills marts.customer_features with synthetic customers, trains and registers a real champion
in a temporary MLflow store (ml.train.train_and_register; --model champion uses the configured
store's @champion instead), then times ml.publish.score_and_publish for --dates dates 30 days apart
(the second exercises the change rules and the warning-episode rebuild). Peak memory is the resident
set size of this process sampled every 50 ms while publishing, minus the resident size before.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from common.scratch import create_database, drop_database, server_url  # noqa: E402

SQL_TYPES = {"numeric": "double precision", "categorical": "text", "flag": "integer", "date": "date"}


def fill_features(url: str, customers: int, dates: list[date], chunk: int = 50_000) -> float:
    """Synthetic snapshot rows for each date, COPYed chunk by chunk; returns seconds spent."""
    from common.config import load_config
    from common.warehouse import copy_rows, transaction
    from ml.synthetic import synthetic_frame

    spec = load_config("features")
    columns = ["customer_id", "as_of_date"] + [f["name"] for f in spec["features"]]
    ddl = ", ".join(f'"{f["name"]}" {SQL_TYPES[f["kind"]]}' for f in spec["features"])
    start = time.perf_counter()
    with transaction(url) as cur:
        cur.execute(f"create table marts.customer_features (customer_id text not null, as_of_date date not null,"
                    f" {ddl}, primary key (customer_id, as_of_date))")
    for k, d in enumerate(dates):
        for offset in range(0, customers, chunk):
            n = min(chunk, customers - offset)
            frame = synthetic_frame(n_customers=n, n_snapshots=1, seed=1000 * k + offset // chunk)
            frame["customer_id"] = [f"c{offset + i:07d}" for i in range(n)]
            frame["as_of_date"] = d
            with transaction(url) as cur:
                copy_rows(cur, "marts.customer_features", columns, frame)
    with transaction(url) as cur:
        cur.execute("analyze marts.customer_features")
    return time.perf_counter() - start


def champion(kind: str):
    from ml.publish import load_champion

    if kind == "train":
        from ml.synthetic import synthetic_frame
        from ml.train import train_and_register

        start = time.perf_counter()
        out = train_and_register(frame=synthetic_frame())
        print(f"trained and registered version {out['version']} ({out['chosen']}) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    return load_champion()


class PeakRss:
    """Samples this process's resident set size in a thread; .peak is the maximum seen."""

    def __init__(self, interval: float = 0.05) -> None:
        self.proc, self.interval, self.peak = psutil.Process(), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self.base = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--dates", type=int, default=2, help="dates to rate, 30 days apart")
    parser.add_argument("--model", choices=["train", "champion"], default="train")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    if args.model == "train":
        os.environ.update(CRM_RISK_STATE_DIR=str(tmp / "state"), MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
                          MLFLOW_ARTIFACT_ROOT=str(tmp / "artifacts"))

    from common.migrate import migrate
    from ml.publish import score_and_publish

    admin = server_url()
    name = f"bench_ratings_{uuid.uuid4().hex[:8]}"
    url = create_database(admin, name)
    try:
        migrate(url)
        dates = [date(2026, 1, 31) + timedelta(days=30 * i) for i in range(args.dates)]
        print(f"{args.customers:,} customers x {len(dates)} date(s), chunk {args.chunk_size:,}", flush=True)
        print(f"synthetic snapshot loaded in {fill_features(url, args.customers, dates):.0f} s", flush=True)
        model = champion(args.model)
        print(f"model {model.name} v{model.version}", flush=True)
        for d in dates:
            marks: dict[str, float] = {}
            with PeakRss() as mem:
                start = time.perf_counter()
                result = score_and_publish(d, f"bench-{d}", url, champion=model, chunk_size=args.chunk_size,
                                           gate=lambda marks=marks, **kw: marks.setdefault("staged", time.perf_counter()))
                total = time.perf_counter() - start
            staged = marks["staged"] - start
            print(
                f"{d}: {result.rows_scored:,} rows in {total:.1f} s = {result.rows_scored / total:,.0f} rows/s"
                f" (score+stage {staged:.1f} s = {result.rows_scored / staged:,.0f} rows/s,"
                f" publish transaction {total - staged:.1f} s);"
                f" peak RSS {mem.peak / 2**20:,.0f} MiB (+{(mem.peak - mem.base) / 2**20:,.0f} MiB over"
                f" {mem.base / 2**20:,.0f} MiB before); warnings opened {result.warnings_opened:,},"
                f" continued {result.warnings_continued:,}, resolved {result.warnings_resolved:,};"
                f" psi {result.psi:.3f}",
                flush=True,
            )
    finally:
        if not args.keep:
            drop_database(admin, name)


if __name__ == "__main__":
    main()
