"""The pyfunc's vectorised rating (PD, score, grade, reason codes) against a row-by-row reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.config import load_config
from devtools.synthetic import synthetic_frame
from ml.candidates import CANDIDATES, fit_candidate
from ml.dataset import TARGET, feature_spec, model_matrix, out_of_time_split
from ml.pyfunc_model import CreditPDModel, reason_code_array
from ml.scale import score_for_pd

MIN_EFFECT = 1e-6


def reference_reasons(contrib: np.ndarray, codes: np.ndarray, top_n: int) -> list[list[str]]:
    """Per row: sort the contributions (largest first, ties in column order), keep the top_n above
    MIN_EFFECT. Written the obvious way, one row at a time."""
    out = []
    for row in contrib:
        order = sorted(range(len(row)), key=lambda j: (-row[j] if not np.isnan(row[j]) else np.inf, j))
        out.append([str(codes[j]) for j in order[:top_n] if row[j] > MIN_EFFECT])
    return out


def reference_rate(wrapper: CreditPDModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The rating contract row by row: in_default -> PD 1, grade D, the default code; else the model's
    PD, its PDO score, the master-scale grade and the top reasons."""
    model = wrapper.model
    X = model_matrix(frame, model.spec, model.input_features)
    pd_, contrib, names = model.rate_inputs(X)
    codes = wrapper._codes(names)
    flags = frame["in_default"].fillna(0).to_numpy() == 1 if "in_default" in frame else np.zeros(len(frame), bool)
    scale = wrapper.scale
    rows = []
    for i in range(len(frame)):
        if flags[i]:
            rows.append((1.0, "D", [wrapper.default_code]))
            continue
        grade = next(g.grade for g in scale.performing if pd_[i] < g.pd_upper or g is scale.performing[-1])
        rows.append((float(pd_[i]), grade, reference_reasons(contrib[i:i + 1], codes, wrapper.top_n)[0]))
    pds = np.array([r[0] for r in rows])
    reasons = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        reasons[i] = r[2]
    return pd.DataFrame({
        "pd_12m": pds,
        "score": score_for_pd(pds, wrapper.scale_config).astype(int),
        "rating_grade": np.array([r[1] for r in rows]),
        "reason_codes": reasons,
    })


@pytest.fixture(scope="module")
def fitted():
    frame = synthetic_frame(n_customers=300, n_snapshots=14, seed=23)
    split = out_of_time_split(frame)
    spec, cfg = feature_spec(), load_config("model")
    scaling = load_config("rating_scale")["score_scaling"]
    X_fit, X_cal = model_matrix(split.fit, spec), model_matrix(split.calibration, spec)
    models = {name: fit_candidate(name, X_fit, split.fit[TARGET], X_cal, split.calibration[TARGET], spec, cfg,
                                  scaling) for name in CANDIDATES}
    rows = split.holdout.sample(1500, replace=True, random_state=3).reset_index(drop=True)
    rows["in_default"] = 0
    rows.loc[rows.index % 37 == 0, "in_default"] = 1
    rows.loc[5:40, "bureau_score"] = np.nan           # missing values take the missing bins / branches
    rows.loc[10:30, "industry"] = "never_seen"         # unseen category
    rows.loc[50:60, "in_default"] = None               # unknown flag: rated by the model
    return models, rows


@pytest.mark.parametrize("name", CANDIDATES)
def test_vectorised_rating_equals_the_row_by_row_reference(fitted, name):
    models, rows = fitted
    wrapper = CreditPDModel(models[name], load_config("rating_scale"), load_config("reason_codes"))
    got = wrapper.predict(None, rows)
    want = reference_rate(wrapper, rows)
    cols = ["pd_12m", "score", "rating_grade"]  # values and dtypes (the grade column: pandas' string dtype)
    pd.testing.assert_frame_equal(got[cols], want[cols], check_exact=True)
    assert got["reason_codes"].tolist() == want["reason_codes"].tolist()
    # the contract's types: one list per row (not a 2-D array), ints for the score
    assert got["reason_codes"].dtype == object and all(type(r) is list for r in got["reason_codes"])
    assert got["score"].dtype == np.int64 and got["pd_12m"].dtype == np.float64
    # rows with different numbers of reasons and rows in default are all present in the fixture
    lengths = got["reason_codes"].map(len)
    # (the logistic regression, centred on the average customer, almost always has 4 features pushing up)
    assert lengths.nunique() >= (2 if name == "logistic" else 3) and got["rating_grade"].eq("D").sum() > 10


@pytest.mark.parametrize("layout", ["C", "F"])  # row-major (tree paths) and column-major (scorecard points)
@pytest.mark.parametrize("top_n", [1, 3, 4, 7])
def test_reason_codes_match_the_reference_on_ties_nan_and_sizes(top_n, layout):
    rng = np.random.default_rng(top_n)
    contrib = rng.choice([-1.0, 0.0, 1e-7, 0.5, 0.5, 2.0, np.nan], size=(400, 6))  # many ties
    contrib = np.asarray(contrib, order=layout)
    codes = np.array(list("ABCDEF"), dtype=object)
    got = reason_code_array(contrib, codes, top_n).tolist()
    assert got == reference_reasons(contrib, codes, top_n)
    assert any(len(r) == min(top_n, 6) for r in got) and any(r == [] for r in got)


def test_reason_codes_edge_cases():
    codes = np.array(list("ABCDE"), dtype=object)
    contrib = np.array([[0.5, 2.0, -1.0, 0.0, 1.0], [0, 0, 0, 0, 0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    assert reason_code_array(contrib, codes, 4).tolist() == [["B", "E", "A"], [], ["A", "B", "C", "D"]]
    flagged = reason_code_array(contrib, codes, 4, override=np.array([False, True, False]), override_code="DEF01")
    assert flagged.tolist() == [["B", "E", "A"], ["DEF01"], ["A", "B", "C", "D"]]
    assert reason_code_array(np.zeros((3, 0)), np.array([], dtype=object), 4).tolist() == [[], [], []]
    # every row gets its own list: changing one does not change another
    out = reason_code_array(np.ones((3, 2)), np.array(["X", "Y"], dtype=object), 2)
    out[0].append("Z")
    assert out[1] == ["X", "Y"]
