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

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from ml.candidates import CreditModel
from ml.dataset import model_matrix
from ml.scale import DEFAULT_GRADE, load_master_scale, score_for_pd

OUTPUT_COLUMNS = ["pd_12m", "score", "rating_grade", "reason_codes"]


def model_signature():
    """The MLflow signature logged with every version: the output contract only.

    No input schema on purpose: MLflow enforces one on every predict, which drops the columns it does
    not list and refuses inputs the model rates today (numerics read by pd.read_sql as Decimal or as
    all-NULL object columns, categorical dtypes); the model's own model_matrix does those conversions.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import DataType
    from mlflow.types.schema import Array, ColSpec, Schema

    return ModelSignature(
        inputs=None,
        outputs=Schema(
            [
                ColSpec(DataType.double, "pd_12m"),
                ColSpec(DataType.long, "score"),
                ColSpec(DataType.string, "rating_grade"),
                ColSpec(Array(DataType.string), "reason_codes"),
            ]
        ),
    )


def reason_code_map(config: dict[str, Any], features: list[str]) -> dict[str, str]:
    """feature -> reason code; features missing from the dictionary get their own upper-cased name."""
    by_feature = {v["feature"]: code for code, v in config.get("codes", {}).items()}
    return {f: by_feature.get(f, f.upper()) for f in features}


def _top_indices(contributions: np.ndarray, k: int, min_effect: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column indices of the k largest contributions above min_effect, largest first
    (ties: lower column first, as a stable sort), and how many of the k qualify (a prefix per row).

    k selection passes instead of sorting every row. Each pass works in the layout the contributions
    come in: row-wise argmax for row-major arrays (tree paths), whole-row vector operations per feature
    for column-major ones (the scorecard's points), whichever avoids a transposing copy.
    """
    n, m = contributions.shape
    # below the threshold (and NaN) can never be a reason: out of the race from the start
    work = np.where(contributions > min_effect, contributions, -np.inf)
    rows = np.arange(n)
    idx = np.empty((n, k), dtype=np.intp)
    n_keep = np.zeros(n, dtype=np.intp)
    by_feature = work.flags.f_contiguous and not work.flags.c_contiguous
    if by_feature:
        work = work.T  # (features x rows), C-contiguous: no copy
        best = np.empty(n, dtype=np.intp)
    for j in range(k):
        if by_feature:
            top = work.max(axis=0)
            for col in range(m - 1, -1, -1):  # descending, so the lowest column reaching the maximum wins
                best[work[col] == top] = col
            work[best, rows] = -np.inf
        else:
            best = work.argmax(axis=1)  # first maximum: the lower column wins a tie
            top = work[rows, best]
            work[rows, best] = -np.inf
        idx[:, j] = best
        n_keep += top > -np.inf
    return idx, n_keep


def reason_code_array(
    contributions: np.ndarray,
    codes: np.ndarray,
    top_n: int = 4,
    min_effect: float = 1e-6,
    override: np.ndarray | None = None,
    override_code: str | None = None,
) -> np.ndarray:
    """Object array, one list per row: the codes of the top_n largest positive contributions (largest
    first). Rows flagged in `override` get [override_code] instead.

    Vectorised: rows are grouped by how many reasons they have and each group's lists are built by
    one `tolist` of a 2-D code array (no Python loop over rows).
    """
    n, m = contributions.shape
    out = np.empty(n, dtype=object)
    k = min(top_n, m)
    flagged = np.zeros(n, dtype=bool) if override is None else np.asarray(override, dtype=bool)
    # Building one small list per row triggers the cyclic GC again and again (they hold no cycles).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if k == 0:
            idx, n_keep = np.zeros((n, 0), dtype=np.intp), np.zeros(n, dtype=np.intp)
        else:
            idx, n_keep = _top_indices(np.asarray(contributions, dtype=float), k, min_effect)
        n_keep[flagged] = -1
        top = np.asarray(codes, dtype=object)[idx] if k else np.empty((n, 0), dtype=object)
        for count in range(k + 1):
            sel = np.flatnonzero(n_keep == count)
            if len(sel):
                out[sel] = np.fromiter(top[sel, :count].tolist(), dtype=object, count=len(sel))
        sel = np.flatnonzero(flagged)
        if len(sel):
            out[sel] = np.fromiter(
                np.full((len(sel), 1), override_code, dtype=object).tolist(), dtype=object, count=len(sel)
            )
    finally:
        if was_enabled:
            gc.enable()
    return out


class CreditPDModel(PythonModel):
    """Feature frame -> pd_12m, score, rating_grade, reason_codes."""

    def __init__(
        self, model: CreditModel, scale_config: dict[str, Any], reason_config: dict[str, Any], top_n: int = 4
    ):
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

    def _grade_table(self) -> tuple[np.ndarray, list[str], int]:
        """Upper PD bounds of the performing grades, all grade names (D last), index of D."""
        table = getattr(self, "_grades", None)
        if table is None:
            performing = self.scale.performing
            uppers = np.array([g.pd_upper for g in performing[:-1]])
            table = self._grades = (uppers, [g.grade for g in performing] + [DEFAULT_GRADE], len(performing))
        return table

    def _grade_column(self, grade_index: np.ndarray) -> Any:
        """Grade names by index, in the dtype pandas gives a column of strings. Taking from a small
        Arrow array of the names is far cheaper than pandas converting a numpy array of strings."""
        _, names, _ = self._grade_table()
        dtype = pd.Series(names[:1]).dtype  # what pandas infers for strings (pandas 3: str, Arrow-backed)
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            import pyarrow as pa

            return pd.array(pa.array(names).take(pa.array(grade_index)), dtype=dtype)
        return np.array(names)[grade_index]

    def rate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The pyfunc's work, callable without MLflow. Vectorised: no Python loop over rows."""
        X = model_matrix(frame, self.model.spec, self.model.input_features)
        pd_, contrib, names = self.model.rate_inputs(X)
        in_default = (
            pd.to_numeric(frame["in_default"], errors="coerce").fillna(0).to_numpy() == 1
            if "in_default" in frame.columns
            else np.zeros(len(frame), dtype=bool)
        )
        pd_ = np.where(in_default, 1.0, pd_)
        codes = reason_code_array(
            contrib, self._codes(names), self.top_n, override=in_default, override_code=self.default_code
        )
        uppers, _, default_index = self._grade_table()
        grade_index = np.searchsorted(uppers, pd_, side="right")
        grade_index[in_default] = default_index  # what MasterScale.grade_for_pd does, on small integers
        return pd.DataFrame(
            index=pd.RangeIndex(len(pd_)),
            data={
                "pd_12m": pd_.astype(float),
                "score": score_for_pd(pd_, self.scale_config).astype(int),
                "rating_grade": self._grade_column(grade_index),
                "reason_codes": codes,
            },
        )

    def predict(self, context, model_input, params=None):  # noqa: ARG002 - pyfunc signature
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        return self.rate(model_input)
