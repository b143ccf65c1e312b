"""The one model to load: an MLflow pyfunc that rates a feature frame.

`mlflow.pyfunc.load_model("models:/crm_credit_pd@champion").predict(features)` returns, in the input's
row order, a DataFrame with `pd_12m` (float), `score` (int), `rating_grade` (str) and `reason_codes`
(list of up to 4 codes from config/reason_codes.yml). Rows with in_default = 1 get pd_12m = 1.0,
grade D and the default reason code. The master scale and score scaling are frozen into the model
version at training time, so a version always rates the same way.
"""

from __future__ import annotations

import gc
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from ml.candidates import CreditModel
from ml.dataset import model_matrix
from ml.scale import load_master_scale, score_for_pd

OUTPUT_COLUMNS = ["pd_12m", "score", "rating_grade", "reason_codes"]


def reason_code_map(config: dict[str, Any], features: list[str]) -> dict[str, str]:
    """feature -> reason code; features missing from the dictionary get their own upper-cased name."""
    by_feature = {v["feature"]: code for code, v in config.get("codes", {}).items()}
    return {f: by_feature.get(f, f.upper()) for f in features}


def top_reasons(contributions: np.ndarray, codes: np.ndarray, top_n: int = 4, min_effect: float = 1e-6) -> list[list[str]]:
    """Per row, the codes of the top_n largest positive contributions (largest first)."""
    if contributions.shape[1] == 0:
        return [[] for _ in range(contributions.shape[0])]
    k = min(top_n, contributions.shape[1])
    # few features per model: a full row-wise argsort is cheaper than partition + re-sort
    idx = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    keep = np.take_along_axis(contributions, idx, axis=1) > min_effect
    # keep is a prefix per row (values sorted descending): trim only the rows with fewer than k reasons.
    # Building one small list per row triggers the cyclic GC again and again (they hold no cycles).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        lists = codes[idx].tolist()
        n_keep = keep.sum(axis=1)
        for i in np.flatnonzero(n_keep < k):
            lists[i] = lists[i][: n_keep[i]]
    finally:
        if was_enabled:
            gc.enable()
    return lists


class CreditPDModel(mlflow.pyfunc.PythonModel):
    """Feature frame -> pd_12m, score, rating_grade, reason_codes."""

    def __init__(self, model: CreditModel, scale_config: dict[str, Any], reason_config: dict[str, Any],
                 top_n: int = 4):
        self.model = model
        self.scale_config = scale_config
        self.top_n = top_n
        self.default_code = str(reason_config.get("default_code", "DEF01"))
        self.reason_config = reason_config
        self._scale = None

    @property
    def scale(self):
        if self._scale is None:
            self._scale = load_master_scale(self.scale_config)
        return self._scale

    def _codes(self, features: list[str]) -> np.ndarray:
        mapping = reason_code_map(self.reason_config, features)
        return np.array([mapping[f] for f in features], dtype=object)

    def rate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The pyfunc's work, callable without MLflow."""
        X = model_matrix(frame, self.model.spec, self.model.input_features)
        pd_, contrib, names = self.model.rate_inputs(X)
        in_default = (
            pd.to_numeric(frame["in_default"], errors="coerce").fillna(0).to_numpy() == 1
            if "in_default" in frame.columns else np.zeros(len(frame), dtype=bool)
        )
        pd_ = np.where(in_default, 1.0, pd_)
        reasons = top_reasons(contrib, self._codes(names), self.top_n)
        if in_default.any():
            for i in np.flatnonzero(in_default):
                reasons[i] = [self.default_code]
        codes = np.empty(len(reasons), dtype=object)  # filled one by one: numpy would make equal-length lists 2-D
        for i, r in enumerate(reasons):
            codes[i] = r
        return pd.DataFrame(index=pd.RangeIndex(len(pd_)), data={
            "pd_12m": pd_.astype(float),
            "score": score_for_pd(pd_, self.scale_config).astype(int),
            "rating_grade": self.scale.grade_for_pd(pd_, in_default).astype(str),
            "reason_codes": codes,
        })

    def predict(self, context, model_input, params=None):  # noqa: ARG002 - pyfunc signature
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        return self.rate(model_input)
