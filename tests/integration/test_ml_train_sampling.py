"""Training from PostgreSQL on a capped sample: chunked server-side read, the same customers as the
in-memory rule, weights, and the sample logged to MLflow (real PostgreSQL database, real MLflow store)."""

from __future__ import annotations

import shutil
import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from common.paths import CONFIG_DIR
from devtools.scratch import create_database, drop_database
from devtools.synthetic import synthetic_frame, write_synthetic_marts
from ml import dataset, registry, train
from ml.pyfunc_model import OUTPUT_COLUMNS

CUSTOMERS, SNAPSHOTS, BLOCK = 1500, 14, 600
CAPS = {"max_fit_rows": 6000, "max_calibration_rows": 2500, "max_holdout_rows": 2500, "chunk_rows": 700}


@pytest.fixture
def marts_url(admin_url):
    name = f"t_train_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    try:
        write_synthetic_marts(url, CUSTOMERS, SNAPSHOTS, seed=31, block_customers=BLOCK)
        yield url
    finally:
        drop_database(admin_url, name)


@pytest.fixture
def capped_config(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    model = yaml.safe_load((folder / "model.yml").read_text())
    model["sample"] = dict(CAPS)
    (folder / "model.yml").write_text(yaml.safe_dump(model))
    monkeypatch.setenv("CRM_RISK_CONFIG_DIR", str(folder))
    return model


def _in_memory_book() -> pd.DataFrame:
    """The same book as write_synthetic_marts builds, block by block."""
    return pd.concat([synthetic_frame(min(BLOCK, CUSTOMERS - first), SNAPSHOTS, seed=31 + b, first_customer=first)
                      for b, first in enumerate(range(0, CUSTOMERS, BLOCK))], ignore_index=True)


def test_database_sample_is_read_in_chunks_and_equals_the_in_memory_rule(marts_url, capped_config, monkeypatch):
    chunks: list[int] = []
    real = dataset._chunk_frame

    def spy(rows, columns, spec):
        chunks.append(len(rows))
        return real(rows, columns, spec)

    monkeypatch.setattr(dataset, "_chunk_frame", spy)
    db = dataset.load_training_frame(marts_url, warmup_months=0)
    assert len(chunks) >= 3 and max(chunks) <= CAPS["chunk_rows"] and sum(chunks) == len(db)

    memory, plan = dataset.sample_frame(_in_memory_book(), capped_config)
    assert db.attrs["sample_plan"] == plan
    assert plan.fit.rows_available > CAPS["max_fit_rows"] and plan.fit.non_default_rate < 1
    a = db.sort_values(dataset.KEY).reset_index(drop=True)
    b = memory.sort_values(dataset.KEY).reset_index(drop=True)
    assert a["customer_id"].tolist() == b["customer_id"].tolist()  # SQL md5 rule == Python md5 rule
    assert (a["as_of_date"] == b["as_of_date"]).all() and (a[dataset.TARGET] == b[dataset.TARGET]).all()
    np.testing.assert_allclose(a[dataset.WEIGHT], b[dataset.WEIGHT])
    np.testing.assert_allclose(a["bureau_score"], b["bureau_score"].astype("float32"), equal_nan=True)
    assert db["bureau_score"].dtype == np.float32 and isinstance(db["industry"].dtype, pd.CategoricalDtype)

    everything = dataset.load_training_frame(marts_url, warmup_months=0, sample=False)
    assert len(everything) == sum(s.rows_available for s in plan.slices) > 1.5 * len(db)
    assert (everything[dataset.WEIGHT] == 1).all()


def test_training_on_a_sample_logs_rows_and_rates_and_stays_calibrated(marts_url, capped_config, mlflow_uri):
    path = train.build_training_set(marts_url, warmup_months=0)
    sampling = train.sampling_of(path)
    fit = sampling["slices"]["fit"]
    assert fit["rows_used"] < 1.25 * CAPS["max_fit_rows"] < fit["rows_available"]
    paths = {name: train.fit_candidate_file(path, name) for name in train.enabled_candidates()}
    evaluation = train.evaluate_candidates(path, paths, source="synthetic")
    out = train.register_chosen(evaluation)

    params = mlflow.get_run(out["run_id"]).data.params
    used = sum(s["rows_used"] for s in sampling["slices"].values())
    available = sum(s["rows_available"] for s in sampling["slices"].values())
    assert int(params["rows_available"]) == available and int(params["rows_used"]) == used
    assert float(params["sampling_rate"]) == pytest.approx(used / available, abs=1e-6)
    assert int(params["rows_used_for_fit"]) == fit["rows_used"]
    assert float(params["fit_non_default_rate_sampled"]) < 1.0 == float(params["fit_default_rate_sampled"])
    assert int(params["sample_max_fit_rows"]) == CAPS["max_fit_rows"]
    card = mlflow.artifacts.load_text(f"runs:/{out['run_id']}/model_card.md")
    assert f"{fit['rows_used']} of {fit['rows_available']} rows" in card

    # weighted metrics estimate the population: the train default rate is the book's, not the sample's
    metrics = mlflow.get_run(out["run_id"]).data.metrics
    book = dataset.load_training_frame(marts_url, warmup_months=0, sample=False)
    book_fit = dataset.out_of_time_split(book).fit
    sample_fit = dataset.out_of_time_split(pd.read_parquet(path)).fit
    assert metrics["train_default_rate"] == pytest.approx(book_fit[dataset.TARGET].mean(), rel=0.15)
    assert sample_fit[dataset.TARGET].mean() > 1.5 * book_fit[dataset.TARGET].mean()
    assert 0.7 <= metrics["holdout_calibration_ratio"] <= 1.4

    # the version documents its output contract, and enforces no input schema
    signature = mlflow.models.get_model_info(f"models:/crm_credit_pd/{out['version']}").signature
    assert signature.inputs is None and signature.outputs.input_names() == OUTPUT_COLUMNS

    # the logged holdout is the sampled one, and the gate rates it through the registered pyfunc
    holdout = registry.holdout_of(out["version"])
    assert len(holdout) == sampling["slices"]["holdout"]["rows_used"]
    assert registry.metrics_on(out["version"], holdout)["auc"] == pytest.approx(out["holdout_auc"], abs=1e-9)
