"""The validation report's parts, the per-grade calibration verdicts the gate uses, and the selection rule."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from common.config import load_config
from ml.scale import load_master_scale
from ml.train import choose, selection_score
from ml.validation import (
    calibration_failures,
    characteristic_stability,
    findings,
    grade_calibration_tests,
    grade_migration,
    report_markdown,
    validation_report,
)


def _grade_sample(rng, n: int, pd_: float, true_rate: float, grade: str):
    return rng.random(n) < true_rate, np.full(n, pd_), np.full(n, grade, dtype=object)


def test_a_grade_whose_pd_understates_its_defaults_fails_and_is_named_with_its_figures():
    rng = np.random.default_rng(0)
    scale = load_master_scale()
    parts = [
        _grade_sample(rng, 2000, 0.007, 0.007, "A"),
        _grade_sample(rng, 800, 0.03, 0.09, "BB"),  # predicted 3%, realised about 9%
        _grade_sample(rng, 40, 0.10, 0.40, "CCC"),  # badly off, but too few rows to judge
    ]
    y, p, g = (np.concatenate(x) for x in zip(*parts, strict=True))
    tests = grade_calibration_tests(y, p, g, scale, alpha=0.01, min_observations=100)
    assert [t["grade"] for t in tests] == ["A", "BB", "CCC"]
    assert [t["judged"] for t in tests] == [True, True, False]
    failures = calibration_failures(tests)
    assert len(failures) == 1
    bb = tests[1]
    assert failures[0].startswith("grade BB fails calibration")
    assert f"{bb['defaults']} defaults in 800 rows" in failures[0] and "mean PD 3.00%" in failures[0]
    assert "understates" in failures[0] and bb["p_value"] < 1e-6


def test_an_overestimating_grade_is_refused_only_when_configured():
    rng = np.random.default_rng(1)
    y, p, g = _grade_sample(rng, 1000, 0.12, 0.03, "CCC")
    tests = grade_calibration_tests(y, p, g, load_master_scale(), alpha=0.01, min_observations=100)
    assert tests[0]["verdict"] == "overestimates"
    assert calibration_failures(tests) == []
    assert "overstates" in calibration_failures(tests, refuse_overestimates=True)[0]


def test_characteristic_stability_is_zero_for_the_same_mix_and_large_for_a_shift():
    rng = np.random.default_rng(2)
    base = pd.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b"], 5000)})
    same = pd.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b"], 5000)})
    moved = pd.DataFrame({"x": rng.normal(1.5, 1, 5000), "c": rng.choice(["a", "b"], 5000, p=[0.9, 0.1])})
    stable = characteristic_stability(base, same, ["x", "c"], {"x"})
    shifted = characteristic_stability(base, moved, ["x", "c"], {"x"})
    assert stable["x"] < 0.02 and stable["c"] < 0.01
    assert shifted["x"] > 0.25 and shifted["c"] > 0.25


def test_grade_migration_counts_moves_between_the_last_two_snapshots():
    keys = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "a", "b", "c", "d", "e"],
            "as_of_date": [date(2026, 1, 31)] * 4 + [date(2026, 2, 28)] * 5,
        }
    )
    grades = np.array(["A", "A", "BB", "CC", "A", "BBB", "B", "AAA", "A"], dtype=object)
    m = grade_migration(keys, grades, load_master_scale())
    assert m["customers"] == 4  # e is new on the later date
    assert m["same_grade"] == 0.25 and m["within_one_notch"] == 0.75
    assert m["downgraded_two_or_more"] == 0.0 and m["upgraded_two_or_more"] == 0.25
    assert m["matrix"]["CC"]["AAA"] == 1


def test_report_flags_concentration_and_failed_grades_and_renders_every_section():
    rng = np.random.default_rng(3)
    n = 3000
    pd_fit = rng.uniform(0.005, 0.009, n)  # everything in grade A: a concentration breach
    y_fit = rng.random(n) < pd_fit
    X = pd.DataFrame({"x": rng.normal(size=n)})
    keys = pd.DataFrame({"customer_id": [f"c{i % 1500}" for i in range(n)],
                         "as_of_date": [date(2026, 1, 31)] * 1500 + [date(2026, 2, 28)] * 1500})
    y_oot = rng.random(n) < pd_fit * 3  # realised three times the PD
    report = validation_report(
        slices={"fit": (y_fit, pd_fit, None), "calibration": (y_fit, pd_fit, None), "out_of_time": (y_oot, pd_fit, None)},
        features={"fit": X, "out_of_time": X},
        keys_oot=keys,
        scale=load_master_scale(),
        cfg=load_config("model")["validation"],
        numeric={"x"},
    )
    found = findings(report)
    assert any(f.startswith("grade A fails calibration") for f in found)
    assert any("grade A holds 100.0%" in f for f in found)
    page = report_markdown(report, "test")
    for section in ("### Discrimination", "### Calibration by grade", "Jeffreys", "### Stability",
                    "### Concentration", "### Grade stability between the last two snapshots"):
        assert section in page
    assert report["grade_migration"]["customers"] == 1500 and report["grade_migration"]["same_grade"] == 1.0


def test_selection_penalises_an_unstable_auc_and_keeps_the_preference_rule():
    steady = selection_score(0.80, {"d1": 0.80, "d2": 0.80, "d3": 0.80}, penalty=1.0)
    swinging = selection_score(0.81, {"d1": 0.76, "d2": 0.86, "d3": 0.81}, penalty=1.0)
    assert steady == pytest.approx(0.80) and swinging < steady
    assert choose({"hgb": swinging, "logistic": steady}, 0.0, None) == "logistic"
    assert choose({"scorecard": 0.795, "hgb": 0.80}, 0.01, "scorecard") == "scorecard"
    assert choose({"scorecard": 0.795, "hgb": 0.80}, 0.01, None) == "hgb"
    assert choose({"scorecard": 0.78, "hgb": 0.80}, 0.01, "scorecard") == "hgb"


def test_directions_of_a_user_table_follow_the_data_where_clear():
    from ml.dataset import FeatureSpec, infer_directions

    rng = np.random.default_rng(4)
    n = 4000
    risk = rng.normal(size=n)
    X = pd.DataFrame({"arrears": risk + rng.normal(size=n), "income": -risk + rng.normal(size=n),
                      "noise": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.5 * risk)))).astype(int)
    spec = infer_directions(X, y, FeatureSpec(("arrears", "income", "noise"), ()), 0.05)
    assert spec.direction("arrears") == 1 and spec.direction("income") == -1 and spec.direction("noise") == 0


def test_byo_folds_are_stratified():
    from ml.train import stratified_folds

    y = np.array([1] * 50 + [0] * 450)
    folds = stratified_folds(y, 5, seed=1)
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]
    assert all((y[folds == k] == 1).sum() == 10 and (folds == k).sum() == 100 for k in range(5))
    single = stratified_folds(y, 1)
    assert (single == 0).sum() == 100 and set(single) == {0, -1}
