"""A small registered PD model obeying the scoring contract, and synthetic feature rows for it (the
publishing and shadow-scoring tests register it on a real MLflow store)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from common.config import load_config
from ml.scale import load_master_scale, score_for_pd

MODEL_NAME = "crm_credit_pd"
MODEL_FEATURES = ["dpd_current", "limit_utilisation", "share_paid_late_12m", "complaint_count_3m",
                  "bureau_score_change_6m"]
REASONS = {"dpd_current": "PAY01", "limit_utilisation": "EXP02", "share_paid_late_12m": "PAY05",
           "complaint_count_3m": "CMP01", "bureau_score_change_6m": "BUR01"}

def synthetic_features(n: int, as_of_date: date, seed: int = 0) -> pd.DataFrame:
    """n customers' feature rows for one date, with a few in default and a few 30+ days past due."""
    rng = np.random.default_rng(seed)
    spec = load_config("features")
    frame = pd.DataFrame({"customer_id": [f"c{i:06d}" for i in range(n)], "as_of_date": as_of_date})
    for f in spec["features"]:
        if f["kind"] == "numeric":
            frame[f["name"]] = rng.gamma(2.0, 2.0, n).round(2)
    frame["industry"] = rng.choice(["retail", "construction", "it"], n)
    frame["region"] = rng.choice(["north", "south"], n)
    frame["size_band"] = rng.choice(["small", "medium"], n)
    frame["dpd_current"] = np.where(rng.random(n) < 0.1, rng.integers(31, 120, n), rng.integers(0, 10, n))
    frame["credit_limit"] = rng.choice([10_000.0, 50_000.0, 100_000.0], n)
    frame["open_receivables"] = (frame["credit_limit"] * rng.uniform(0, 1.1, n)).round(2)
    frame["limit_utilisation"] = frame["open_receivables"] / frame["credit_limit"]
    frame["invoice_amount_12m"] = rng.uniform(10_000, 600_000, n).round(2)
    frame["share_paid_late_12m"] = rng.uniform(0, 1, n)
    frame["complaint_count_3m"] = rng.poisson(0.3, n)
    frame["complaint_count_12m"] = frame["complaint_count_3m"] + rng.poisson(0.5, n)
    frame["bureau_score_change_6m"] = rng.normal(0, 60, n).round()
    frame["in_default"] = (rng.random(n) < 0.03).astype(int)
    frame["last_default_date"] = np.where(frame["in_default"] == 1, as_of_date - timedelta(days=10), None)
    return frame


class ContractModel(mlflow.pyfunc.PythonModel):
    """A small logistic PD model obeying the scoring contract: pd_12m, score, rating_grade, reason_codes."""

    def __init__(self, clf: LogisticRegression, features: list[str], means: np.ndarray) -> None:
        self.clf, self.features, self.means = clf, features, means

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        x = model_input[self.features].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(float)
        pd_12m = self.clf.predict_proba(x)[:, 1]
        in_default = pd.to_numeric(model_input["in_default"], errors="coerce").fillna(0).to_numpy() >= 1
        pd_12m = np.where(in_default, 1.0, pd_12m)
        grades = load_master_scale().grade_for_pd(pd_12m, in_default)
        contrib = (x - self.means) * self.clf.coef_[0]
        top = np.argsort(-contrib, axis=1)[:, :4]
        codes = [[REASONS[self.features[j]] for j in row if contrib[i, j] > 0] for i, row in enumerate(top)]
        return pd.DataFrame({"pd_12m": pd_12m, "score": score_for_pd(pd_12m), "rating_grade": grades,
                             "reason_codes": codes})


def register_contract_model(seed: int = 0) -> str:
    """Fit, log and register a ContractModel as crm_credit_pd @champion; returns the version."""
    train = synthetic_features(2_000, date(2025, 1, 31), seed)
    x = train[MODEL_FEATURES].to_numpy(float)
    logit = -4.5 + 0.04 * train["dpd_current"] + 1.5 * train["share_paid_late_12m"] - 0.01 * train[
        "bureau_score_change_6m"]
    y = np.random.default_rng(seed).random(len(train)) < 1 / (1 + np.exp(-logit))
    clf = LogisticRegression(max_iter=1000).fit(x, y)
    model = ContractModel(clf, MODEL_FEATURES, x.mean(axis=0))
    grades = model.predict(None, train)["rating_grade"].value_counts(normalize=True).to_dict()
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=model, registered_model_name=MODEL_NAME,
                                       pip_requirements=["scikit-learn", "pandas", "numpy"])
    version = str(info.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(MODEL_NAME, "champion", version)
    client.set_model_version_tag(MODEL_NAME, version, "train_grade_distribution", json.dumps(grades))
    return version


@contextlib.contextmanager
def mlflow_store(folder: Path, experiment: str) -> Iterator[str]:
    """A real MLflow store (SQLite + local artifacts) in `folder`, set as the tracking store and the
    current experiment until the block ends; yields its tracking URI."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MLFLOW_ARTIFACT_ROOT", str(folder / "artifacts"))
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment(experiment, artifact_location=(folder / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp)
    try:
        yield uri
    finally:
        mp.undo()
