"""The bounded training sample: per-slice caps, the customer hash, weights, compact dtypes, weighted metrics."""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import pandas as pd
import pytest

from common.config import load_config
from devtools.synthetic import synthetic_frame
from ml import dataset
from ml.evaluate import calibration_by_grade, discrimination, grade_distribution, information_values
from ml.scale import load_master_scale

CAPS = {"max_fit_rows": 6000, "max_calibration_rows": 2000, "max_holdout_rows": 2500, "chunk_rows": 1000}


@pytest.fixture(scope="module")
def config() -> dict:
    cfg = copy.deepcopy(load_config("model"))
    cfg["sample"] = dict(CAPS)
    return cfg


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame(n_customers=3000, n_snapshots=14, seed=17)


@pytest.fixture(scope="module")
def sampled(frame, config):
    return dataset.sample_frame(frame, config)


def test_customer_hash_is_the_first_32_bits_of_md5():
    ids = pd.Series(["c000001", "c000002", "c000001"])
    expected = [int(hashlib.md5(i.encode()).hexdigest()[:8], 16) for i in ids]  # noqa: S324
    assert dataset.customer_hash(ids).tolist() == expected
    assert expected[0] == 2801874945  # PostgreSQL: ('x' || left(md5('c000001'), 8))::bit(32)::bigint


def test_each_slice_is_capped_and_keeps_every_default_of_fit_and_calibration(frame, sampled, config):
    kept, plan = sampled
    full = dataset.out_of_time_split(frame, config)
    part = dataset.out_of_time_split(kept, config)
    for name, cap in (("fit", 6000), ("calibration", 2000), ("holdout", 2500)):
        before, after = getattr(full, name), getattr(part, name)
        assert len(before) > cap  # the fixture needs sampling in every slice
        assert len(after) < 1.25 * cap, (name, len(after))  # a customer sample: close to the cap, not exact
        assert getattr(plan, name).rows_available == len(before)
    for name in ("fit", "calibration"):
        before, after = getattr(full, name), getattr(part, name)
        assert after[dataset.TARGET].sum() == before[dataset.TARGET].sum()  # every default kept
        assert getattr(plan, name).default_rate == 1.0 and getattr(plan, name).non_default_rate < 1.0
    hold = plan.holdout
    assert hold.default_rate == hold.non_default_rate < 1.0  # a plain customer sample: unweighted metrics hold


def test_sample_keeps_the_same_customers_across_snapshots_and_is_deterministic(frame, sampled, config):
    kept, _ = sampled
    fit = dataset.out_of_time_split(kept, config).fit
    goods = fit[fit[dataset.TARGET] == 0]
    all_fit = dataset.out_of_time_split(frame, config).fit
    # a non-default customer kept in one fitting snapshot is kept in all its non-default fitting snapshots
    kept_customers = set(goods["customer_id"])
    expected = all_fit[(all_fit[dataset.TARGET] == 0) & all_fit["customer_id"].isin(kept_customers)]
    assert len(goods) == len(expected)
    again, _ = dataset.sample_frame(frame, config)
    pd.testing.assert_frame_equal(kept, again)


def test_weights_are_inverse_rates_and_reproduce_the_population(frame, sampled, config):
    kept, plan = sampled
    full = dataset.out_of_time_split(frame, config)
    part = dataset.out_of_time_split(kept, config)
    for name in ("fit", "calibration", "holdout"):
        s, before, after = getattr(plan, name), getattr(full, name), getattr(part, name)
        w = dataset.row_weights(after)
        bad = after[dataset.TARGET].to_numpy() == 1
        np.testing.assert_allclose(w[bad], 1 / s.default_rate)
        np.testing.assert_allclose(w[~bad], 1 / s.non_default_rate)
        assert w.sum() == pytest.approx(len(before), rel=0.1)
        # the weighted default rate estimates the slice's, the unweighted one of a stratified slice does not
        weighted = np.average(after[dataset.TARGET], weights=w)
        assert weighted == pytest.approx(before[dataset.TARGET].mean(), rel=0.15)
    fit = part.fit
    assert fit[dataset.TARGET].mean() > 1.5 * full.fit[dataset.TARGET].mean()


def test_no_sampling_below_the_caps_and_rows_in_default_are_left_out(frame):
    cfg = copy.deepcopy(load_config("model"))
    small = frame[frame["customer_id"] < "c000200"]
    kept, plan = dataset.sample_frame(small, cfg)
    assert all(s.default_rate == 1.0 and s.non_default_rate == 1.0 for s in plan.slices)
    assert len(kept) == int((small["in_default"] != 1).sum())
    assert (kept[dataset.WEIGHT] == 1.0).all() and kept["in_default"].eq(0).all()


def test_compact_dtypes(sampled):
    kept, _ = sampled
    spec = dataset.feature_spec()
    assert all(kept[c].dtype == np.float32 for c in spec.numeric)
    assert all(isinstance(kept[c].dtype, pd.CategoricalDtype) for c in spec.categorical)
    assert kept[dataset.TARGET].dtype == np.int8 and kept[dataset.WEIGHT].dtype == np.float64
    assert set(kept.columns) == {*dataset.KEY, *spec.names, "in_default", dataset.TARGET, dataset.WEIGHT}
    X = dataset.model_matrix(kept, spec)  # models still get float64 and string categories
    assert X["bureau_score"].dtype == np.float64 and X["industry"].map(type).eq(str).all()


def test_plan_refuses_too_few_snapshot_dates(config):
    counts = pd.DataFrame({"as_of_date": pd.date_range("2024-01-31", periods=6, freq="ME"),
                           "default_flag": 0, "rows": 100})
    with pytest.raises(ValueError, match="6 labelled snapshot dates; need at least 9"):
        dataset.plan_sample(counts, config)


def test_weighted_metrics_equal_metrics_on_replicated_rows():
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.2).astype(int)
    p = np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.15, 400), 0.001, 0.999)
    w = rng.integers(1, 4, 400).astype(float)
    rep = np.repeat(np.arange(400), w.astype(int))
    weighted, replicated = discrimination(y, p, w), discrimination(y[rep], p[rep])
    for key in ("auc", "ks", "brier", "default_rate", "mean_pd", "calibration_ratio"):
        assert weighted[key] == pytest.approx(replicated[key], rel=1e-9), key
    scale = load_master_scale()
    assert grade_distribution(p, scale, w) == pytest.approx(grade_distribution(p[rep], scale))
    a, b = calibration_by_grade(y, p, scale, w), calibration_by_grade(y[rep], p[rep], scale)
    np.testing.assert_allclose(a[["expected", "observed"]], b[["expected", "observed"]])
    assert list(a.columns) == ["grade", "rows", "expected", "observed", "defaults"]
    X = pd.DataFrame({"x": p + rng.normal(0, 0.05, 400)})
    iv_w = information_values(X, y, ["x"], [], weights=w)["x"]
    iv_r = information_values(X.iloc[rep].reset_index(drop=True), y[rep], ["x"], [])["x"]
    assert iv_w == pytest.approx(iv_r, rel=0.05)
