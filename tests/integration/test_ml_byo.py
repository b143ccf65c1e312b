"""Bring your own table: `python -m ml.train --train ... --valid ...` on CSV and Parquet files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ml.train import main


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    risk = rng.normal(0, 1, n)
    frame = pd.DataFrame({
        "loan_id": [f"L{seed}-{i}" for i in range(n)],
        "income": np.exp(10 - 0.3 * risk + rng.normal(0, 0.5, n)),
        "arrears": np.clip(risk * 2 + rng.normal(0, 2, n), 0, None).round(),
        "channel": rng.choice(["web", "branch", "broker"], n),
        "segment": np.where(risk + rng.normal(0, 1, n) > 1, "subprime", "prime"),
        "noise": rng.normal(0, 1, n),
    })
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    frame.loc[rng.random(n) < 0.05, "channel"] = None
    frame["bad"] = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.3 * risk)))).astype(int)
    return frame


def test_byo_table_trains_chooses_and_writes_predictions_and_metrics(tmp_path, mlflow_uri):
    train, valid = _table(3000, 1), _table(1000, 2)
    train.to_csv(tmp_path / "train.csv", index=False)
    valid.to_parquet(tmp_path / "valid.parquet", index=False)
    code = main(["--train", str(tmp_path / "train.csv"), "--valid", str(tmp_path / "valid.parquet"),
                 "--target", "bad", "--id", "loan_id", "--predictions-out", str(tmp_path / "pred.csv"),
                 "--metrics-out", str(tmp_path / "metrics.json")])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"auc", "gini", "ks", "brier", "chosen_model"} <= set(metrics)
    assert metrics["auc"] > 0.7 and metrics["gini"] == np.float64(2 * metrics["auc"] - 1)
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["loan_id", "pd"] and pred["loan_id"].tolist() == valid["loan_id"].tolist()
    assert pred["pd"].between(0, 1).all()


def test_byo_without_id_writes_row_numbers(tmp_path, mlflow_uri):
    _table(2000, 3).drop(columns="loan_id").to_parquet(tmp_path / "t.parquet")
    _table(500, 4).drop(columns="loan_id").to_csv(tmp_path / "v.csv", index=False)
    assert main(["--train", str(tmp_path / "t.parquet"), "--valid", str(tmp_path / "v.csv"), "--target", "bad",
                 "--predictions-out", str(tmp_path / "p.parquet"), "--metrics-out", str(tmp_path / "m.json")]) == 0
    pred = pd.read_parquet(tmp_path / "p.parquet")
    assert pred["row"].tolist() == list(range(500))


def test_byo_chooses_on_folds_of_train_never_on_valid(tmp_path, mlflow_uri):
    from common.config import load_config
    from ml.train import choose

    train, valid = _table(2500, 5), _table(800, 6)
    train.to_csv(tmp_path / "train.csv", index=False)
    chosen = []
    for flip in (False, True):  # the same train, the valid outcomes turned upside down
        v = valid.assign(bad=1 - valid["bad"]) if flip else valid
        v.to_csv(tmp_path / "valid.csv", index=False)
        assert main(["--train", str(tmp_path / "train.csv"), "--valid", str(tmp_path / "valid.csv"),
                     "--target", "bad", "--id", "loan_id", "--predictions-out", str(tmp_path / "p.csv"),
                     "--metrics-out", str(tmp_path / "m.json")]) == 0
        metrics = json.loads((tmp_path / "m.json").read_text())
        chosen.append(metrics["chosen_model"])
        sel = load_config("model")["selection"]
        assert metrics["chosen_model"] == choose(metrics["selection_auc"], sel["scorecard_tolerance"],
                                                 sel["preferred"])
        assert set(metrics["selection_auc"]) == set(metrics["candidates"]) >= {"logistic", "hgb_monotone"}
    assert chosen[0] == chosen[1]
    assert metrics["auc"] < 0.5  # the flipped valid table was scored, not used to choose
