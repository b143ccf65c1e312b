"""Benchmark: training time and peak memory at N customers x 24 monthly snapshots, and scoring rows/s,
pyfunc vs bare estimator.

    python -m bench.bench_ml --customers 100000 [--snapshots 24] [--score-rows 50000] [--source synthetic|marts]
    python -m bench.bench_ml --customers 1000000 --keep-db     # later: --db-url URL to train again on it

--source synthetic (default) creates a throw-away database (on TEST_WAREHOUSE_URL, else 127.0.0.1:5432,
else the embedded server) and fills marts.customer_features and marts.customer_default_labels with a
synthetic book, a block of customers at a time (generate, COPY, forget), so 1,000,000 customers x 24
snapshots never sit in memory at once. Training then reads the marts like production does (chunked
server-side cursor, capped sample of config/model.yml `sample`); the synthetic features are complete
from the first snapshot, so no warm-up months are skipped. --source marts trains on the configured
warehouse instead. Runs against a temporary MLflow store (unless --keep-store).

Timing: `train_seconds` is wall time; `train_cpu_seconds` the CPU time of this process over the same
span (all threads), steadier than wall time on a shared machine. Scoring rates are the best of 5 runs,
per second of wall time and (`*_per_cpu_s`, `ratio_pyfunc_vs_bare_cpu`) per second of CPU time.
Peak memory: `train_peak_rss_mib` is this process's resident set size sampled every 50 ms during
training (training set -> candidates -> evaluation -> registration); `peak_rss_mib` is the same sampler
over the whole run (data generation and scoring included). Prints progress lines and,
last, one JSON summary document.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from bench.memory import PeakRss


def _rows_per_second(fn, frame, repeat: int = 5) -> tuple[float, float]:
    """Rows per second of wall time and per second of this process's CPU time (best of `repeat`)."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(frame)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return len(frame) / wall, len(frame) / max(cpu, 1e-9)


def _mib(n_bytes: float) -> int:
    return round(n_bytes / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--snapshots", type=int, default=24)
    parser.add_argument("--score-rows", type=int, default=50_000)
    parser.add_argument("--block-customers", type=int, default=20_000,
                        help="customers generated and COPYed at a time (synthetic source)")
    parser.add_argument("--source", choices=["synthetic", "marts"], default="synthetic")
    parser.add_argument("--keep-store", action="store_true", help="use the configured MLflow store")
    parser.add_argument("--keep-db", action="store_true", help="keep the synthetic database")
    parser.add_argument("--db-url", help="train on the synthetic marts of this database (filled by an earlier "
                        "--keep-db run, or devtools.synthetic.write_synthetic_marts) instead of generating them")
    args = parser.parse_args()

    with PeakRss() as whole:
        summary = _measure(args)
    summary["peak_rss_mib"] = whole.peak_mib
    print(json.dumps(summary, indent=2))


def _measure(args: argparse.Namespace) -> dict:
    """The synthetic marts (unless reused), then training and scoring; the figures."""
    tmp = tempfile.mkdtemp(prefix="bench_ml_")
    if not args.keep_store:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        os.environ["MLFLOW_ARTIFACT_ROOT"] = f"{tmp}/artifacts"
        os.environ["CRM_RISK_STATE_DIR"] = f"{tmp}/state"

    from devtools.scratch import create_database, drop_database, server_url

    admin, db_name, url = None, None, None
    t_data = 0.0
    if args.db_url:
        url = args.db_url
        print(f"training on the existing marts of {url.rsplit('/', 1)[-1]}", flush=True)
    elif args.source == "synthetic":
        from devtools.synthetic import write_synthetic_marts

        admin = server_url()
        db_name = f"bench_ml_{uuid.uuid4().hex[:8]}"
        url = create_database(admin, db_name)
        total = args.customers * args.snapshots
        t0 = time.perf_counter()

        def progress(done: int) -> None:
            if done == total or done // (args.block_customers * args.snapshots) % 10 == 0:
                print(f"  synthetic marts: {done:,} / {total:,} rows ({time.perf_counter() - t0:.0f} s)", flush=True)

        write_synthetic_marts(url, args.customers, args.snapshots, block_customers=args.block_customers,
                              progress=progress)
        t_data = time.perf_counter() - t0
        print(f"synthetic marts: {total:,} rows in {t_data:.0f} s", flush=True)
    try:
        return run(args, url, t_data)
    finally:
        if db_name and not args.keep_db:
            drop_database(admin, db_name)


def run(args: argparse.Namespace, url: str | None, t_data: float) -> dict:
    import joblib
    import mlflow
    import pandas as pd

    from ml import dataset, train
    from ml.tracking import configure_mlflow, model_name

    warmup = 0 if args.source == "synthetic" or args.db_url else None
    timings: dict[str, float] = {}
    with PeakRss() as mem:
        t0, cpu0 = time.perf_counter(), time.process_time()
        path = train.build_training_set(url, warmup_months=warmup)
        timings["build_training_set"] = time.perf_counter() - t0
        print(f"training set in {timings['build_training_set']:.0f} s", flush=True)
        paths = {}
        for name in train.enabled_candidates():
            t1 = time.perf_counter()
            paths[name] = train.fit_candidate_file(path, name)
            timings[f"fit_{name}"] = time.perf_counter() - t1
            print(f"fit {name} in {timings[f'fit_{name}']:.0f} s", flush=True)
        t1 = time.perf_counter()
        evaluation = train.evaluate_candidates(path, paths, source=args.source)
        timings["evaluate_and_log"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        registered = train.register_chosen(evaluation)
        timings["log_and_register"] = time.perf_counter() - t1
        timings["total_training"] = time.perf_counter() - t0
        cpu_seconds = time.process_time() - cpu0
    print(f"training in {timings['total_training']:.0f} s, peak RSS {_mib(mem.peak):,} MiB", flush=True)

    configure_mlflow()
    pyfunc = mlflow.pyfunc.load_model(f"models:/{model_name()}/{registered['version']}")
    rows = pd.read_parquet(path)
    rows = rows.sample(args.score_rows, replace=len(rows) < args.score_rows, random_state=0).reset_index(drop=True)
    spec = dataset.feature_spec()

    scoring = {}
    for name, model_path in paths.items():
        model = joblib.load(model_path)
        wrapper = train.build_pyfunc(model)

        def bare(f, model=model):
            return model.predict_proba_bare(dataset.model_matrix(f, spec, model.input_features))

        bare_wall, bare_cpu = _rows_per_second(bare, rows)
        rate_wall, rate_cpu = _rows_per_second(lambda f, w=wrapper: w.rate(f), rows)
        scoring[name] = {
            "bare_predict_proba_rows_s": round(bare_wall), "rating_with_reasons_rows_s": round(rate_wall),
            "bare_predict_proba_rows_per_cpu_s": round(bare_cpu), "rating_with_reasons_rows_per_cpu_s": round(rate_cpu),
        }
    chosen = registered["chosen"]
    pyfunc_wall, pyfunc_cpu = _rows_per_second(pyfunc.predict, rows)
    pyfunc_rows_s = round(pyfunc_wall)
    bare_rows_s = scoring[chosen]["bare_predict_proba_rows_s"]
    bare_cpu = scoring[chosen]["bare_predict_proba_rows_per_cpu_s"]
    evaluation_summary = json.loads(Path(evaluation["summary_path"]).read_text())
    sampling = evaluation_summary.get("sampling", {})
    return {
        "source": args.source,
        "customers": args.customers,
        "snapshots": args.snapshots,
        "rows": args.customers * args.snapshots if args.source == "synthetic" else None,
        "reused_database": bool(args.db_url),
        "rows_available": sampling.get("rows_available"),
        "rows_used": sampling.get("rows_used"),
        "rows_used_for_fit": sampling.get("rows_used_for_fit"),
        "train_seconds": round(timings["total_training"], 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "train_peak_rss_mib": _mib(mem.peak),
        "peak_rss_mib": None,  # the whole run's peak, filled in by main()
        "synthetic_data_seconds": round(t_data, 1),
        "timings_seconds": {k: round(v, 2) for k, v in timings.items()},
        "chosen": chosen,
        "auc": {k: round(v, 4) for k, v in evaluation_summary["candidate_auc"].items()},
        "pyfunc_rows_per_s": pyfunc_rows_s,
        "bare_rows_per_s": bare_rows_s,
        "ratio_pyfunc_vs_bare": round(pyfunc_rows_s / bare_rows_s, 3),
        "pyfunc_rows_per_cpu_s": round(pyfunc_cpu),
        "bare_rows_per_cpu_s": bare_cpu,
        "ratio_pyfunc_vs_bare_cpu": round(pyfunc_cpu / bare_cpu, 3),
        "score_rows": args.score_rows,
        "scoring_per_candidate": scoring,
        "sampling": sampling,
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    main()
