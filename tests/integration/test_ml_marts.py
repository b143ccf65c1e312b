"""Training on real simulated data: simulator -> extract -> dbt marts -> train_and_register -> @champion."""

from __future__ import annotations

import datetime as dt

import mlflow
import pandas as pd
import pytest

from common.warehouse import engine
from ml import registry
from ml.dataset import feature_spec, load_training_frame, out_of_time_split
from ml.train import train_and_register

HISTORY_START = dt.date(2023, 11, 1)  # 12 months of warm-up before the labelled snapshots
AS_OF = dt.date(2026, 10, 31)
CUSTOMERS = 600
GRADES = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "D"]


def _latest_snapshot(url: str) -> pd.DataFrame:
    eng = engine(url)
    try:
        return pd.read_sql("select * from marts.customer_features where as_of_date = "
                           "(select max(as_of_date) from marts.customer_features)", eng)
    finally:
        eng.dispose()


@pytest.mark.slow
def test_training_on_the_marts_registers_a_champion_that_rates_the_latest_snapshot(warehouse_url, mlflow_uri):
    from devtools.simulator import simulate
    from pipeline.bootstrap import load_history

    simulate(CUSTOMERS, HISTORY_START, AS_OF, seed=21, verbose=False)
    load_history(AS_OF + dt.timedelta(days=1), verbose=False)

    frame = load_training_frame(warehouse_url)
    assert set(feature_spec().names) <= set(frame.columns)
    assert frame["as_of_date"].nunique() >= 9 and set(frame["default_flag"].unique()) == {0, 1}
    split = out_of_time_split(frame)
    assert split.holdout["as_of_date"].min() > split.calibration["as_of_date"].max()

    out = train_and_register(url=warehouse_url)
    assert out["holdout_auc"] > 0.62, out  # small simulated book: ~50 holdout defaults
    assert out["gate"]["status"] == "champion" and registry.champion_exists()

    latest = _latest_snapshot(warehouse_url)
    rated = mlflow.pyfunc.load_model("models:/crm_credit_pd@champion").predict(latest)
    assert len(rated) == len(latest) and rated["rating_grade"].isin(GRADES).all()
    in_default = latest["in_default"].fillna(0).to_numpy() == 1
    assert (rated.loc[in_default, "rating_grade"] == "D").all()
    assert (rated.loc[~in_default, "rating_grade"] != "D").all()
    assert rated["reason_codes"].map(len).between(0, 4).all()
