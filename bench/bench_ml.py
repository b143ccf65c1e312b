"""Benchmark: training time at N customers x 24 monthly snapshots and scoring rows/s, pyfunc vs bare estimator.

    python bench/bench_ml.py --customers 2000 [--snapshots 24] [--score-rows 50000] [--source synthetic|marts]

Runs against a temporary MLflow store (unless --keep-store). Prints one JSON document of figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _rows_per_second(fn, frame, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(frame)
        best = min(best, time.perf_counter() - t0)
    return len(frame) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--snapshots", type=int, default=24)
    parser.add_argument("--score-rows", type=int, default=50_000)
    parser.add_argument("--source", choices=["synthetic", "marts"], default="synthetic")
    parser.add_argument("--keep-store", action="store_true", help="use the configured MLflow store")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench_ml_")
    if not args.keep_store:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        os.environ["MLFLOW_ARTIFACT_ROOT"] = f"{tmp}/artifacts"
        os.environ["CRM_RISK_STATE_DIR"] = f"{tmp}/state"

    import joblib
    import mlflow
    import pandas as pd

    from ml import dataset, train
    from ml.synthetic import synthetic_frame
    from ml.tracking import configure_mlflow, model_name

    t0 = time.perf_counter()
    frame = synthetic_frame(args.customers, args.snapshots) if args.source == "synthetic" else None
    t_data = time.perf_counter() - t0

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    path = train.build_training_set(frame=frame)
    timings["build_training_set"] = time.perf_counter() - t0
    paths = {}
    for name in train.enabled_candidates():
        t1 = time.perf_counter()
        paths[name] = train.fit_candidate_file(path, name)
        timings[f"fit_{name}"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    evaluation = train.evaluate_candidates(path, paths, source=args.source)
    timings["evaluate_and_log"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    registered = train.register_chosen(evaluation)
    timings["log_and_register"] = time.perf_counter() - t1
    timings["total_training"] = time.perf_counter() - t0

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

        scoring[name] = {
            "bare_predict_proba_rows_s": round(_rows_per_second(bare, rows)),
            "rating_with_reasons_rows_s": round(_rows_per_second(lambda f, w=wrapper: w.rate(f), rows)),
        }
    chosen = registered["chosen"]
    scoring["registered_pyfunc"] = {
        "candidate": chosen,
        "pyfunc_predict_rows_s": round(_rows_per_second(pyfunc.predict, rows)),
    }
    scoring["registered_pyfunc"]["ratio_to_bare"] = round(
        scoring["registered_pyfunc"]["pyfunc_predict_rows_s"] / scoring[chosen]["bare_predict_proba_rows_s"], 3)
    summary = json.loads(Path(evaluation["summary_path"]).read_text())
    training = pd.read_parquet(path)
    print(json.dumps({
        "source": args.source, "customers": int(training["customer_id"].nunique()),
        "snapshots": int(training["as_of_date"].nunique()), "training_rows": int(len(training)),
        "synthetic_data_seconds": round(t_data, 2), "timings_seconds": {k: round(v, 2) for k, v in timings.items()},
        "holdout_auc": {k: round(v, 4) for k, v in summary["candidate_auc"].items()}, "chosen": chosen,
        "score_rows": args.score_rows, "scoring": scoring, "cpu_count": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
