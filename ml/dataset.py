"""The training set: point-in-time features joined to mature labels, split out of time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.config import load_config

TARGET = "default_flag"
KEY = ["customer_id", "as_of_date"]


@dataclass(frozen=True)
class FeatureSpec:
    """Model inputs by kind, from config/features.yml (or inferred for a table brought by a user)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def feature_spec(config: dict[str, Any] | None = None) -> FeatureSpec:
    """Model features (model != false) of the feature spec, split into numeric and categorical."""
    features = (config or load_config("features"))["features"]
    used = [f for f in features if f.get("model", True) and f["kind"] in ("numeric", "categorical", "flag")]
    return FeatureSpec(
        numeric=tuple(f["name"] for f in used if f["kind"] in ("numeric", "flag")),
        categorical=tuple(f["name"] for f in used if f["kind"] == "categorical"),
    )


def infer_spec(frame: pd.DataFrame, exclude: list[str]) -> FeatureSpec:
    """Numeric and categorical columns of any table (booleans count as numeric, dates are dropped)."""
    numeric, categorical = [], []
    for col in frame.columns:
        if col in exclude:
            continue
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            numeric.append(col)
        elif pd.api.types.is_datetime64_any_dtype(series):
            continue
        else:
            converted = pd.to_numeric(series, errors="coerce")
            if converted.notna().sum() >= 0.95 * series.notna().sum() and series.notna().any():
                numeric.append(col)
            else:
                categorical.append(col)
    return FeatureSpec(numeric=tuple(numeric), categorical=tuple(categorical))


def model_matrix(frame: pd.DataFrame, spec: FeatureSpec, columns: list[str] | None = None) -> pd.DataFrame:
    """The model inputs with stable dtypes: float numerics (NaN = missing), object categoricals.

    `columns` limits the work to the features a model uses (a scorecard keeps only its selection).
    """
    wanted = set(columns) if columns is not None else None
    numeric = [c for c in spec.numeric if wanted is None or c in wanted]
    categorical = [c for c in spec.categorical if wanted is None or c in wanted]
    missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        raise KeyError(f"feature frame lacks model features: {missing}")
    data = {}
    for col in numeric:
        values = frame[col]
        data[col] = (values.to_numpy(dtype="float64", na_value=np.nan) if values.dtype.kind in "fiub"
                     else pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
    for col in categorical:
        values = frame[col].astype("object")
        data[col] = values.where(values.notna(), "__missing__").astype(str).to_numpy(dtype=object)
    return pd.DataFrame(data, index=frame.index)


# Snapshots in the first `warmup_months` of the marts' history are left out: their 3/6/12-month
# windows reach back before the first loaded data, so their features are not comparable with later
# ones (a model fitted on them looks drifted on the holdout).
TRAINING_SQL = """
select f.*, l.default_flag, l.horizon_end_date
from marts.customer_features f
join marts.customer_default_labels l using (customer_id, as_of_date)
where (%(as_of)s::date is null or l.horizon_end_date <= %(as_of)s::date)
  and f.as_of_date >= (select min(as_of_date) from marts.customer_features)
                      + make_interval(months => %(warmup)s)
order by f.as_of_date, f.customer_id
"""


def load_training_frame(url: str | None = None, as_of_date: Any = None) -> pd.DataFrame:
    """Feature snapshots joined to their mature labels (horizon ended by as_of_date when given)."""
    from common.warehouse import connect

    conn = connect(url or "warehouse")
    try:
        with conn.cursor() as cur:
            warmup = int(load_config("model")["split"].get("warmup_months", 0))
            cur.execute(TRAINING_SQL, {"as_of": None if as_of_date is None else str(as_of_date), "warmup": warmup})
            columns = [d.name for d in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=columns)
    finally:
        conn.close()
    if frame.empty:
        raise ValueError(
            "no labelled snapshots after the warm-up (config/model.yml split.warmup_months) in "
            "marts.customer_default_labels: load more history (labels need the 12-month horizon to pass)"
        )
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"])
    frame[TARGET] = frame[TARGET].astype(int)
    return frame


@dataclass
class Split:
    """Out-of-time split: fit (oldest) -> calibration -> holdout (latest snapshots)."""

    fit: pd.DataFrame
    calibration: pd.DataFrame
    holdout: pd.DataFrame

    def window(self) -> dict[str, str]:
        def span(f: pd.DataFrame) -> str:
            return f"{f['as_of_date'].min():%Y-%m-%d}..{f['as_of_date'].max():%Y-%m-%d}"

        return {"fit": span(self.fit), "calibration": span(self.calibration), "holdout": span(self.holdout)}


def out_of_time_split(frame: pd.DataFrame, config: dict[str, Any] | None = None) -> Split:
    """Split by snapshot date; rows in default are dropped first (they are rated D by rule)."""
    cfg = (config or load_config("model"))["split"]
    if cfg.get("exclude_in_default", True) and "in_default" in frame.columns:
        frame = frame[frame["in_default"].fillna(0).astype(int) != 1]
    dates = np.sort(frame["as_of_date"].unique())
    n_hold, n_cal = int(cfg["holdout_snapshots"]), int(cfg["calibration_snapshots"])
    if len(dates) < n_hold + n_cal + int(cfg.get("min_train_snapshots", 1)):
        raise ValueError(
            f"{len(dates)} labelled snapshot dates; need at least "
            f"{n_hold + n_cal + int(cfg.get('min_train_snapshots', 1))} for an out-of-time split"
        )
    hold_from, cal_from = dates[-n_hold], dates[-(n_hold + n_cal)]
    when = frame["as_of_date"]
    return Split(
        fit=frame[when < cal_from].reset_index(drop=True),
        calibration=frame[(when >= cal_from) & (when < hold_from)].reset_index(drop=True),
        holdout=frame[when >= hold_from].reset_index(drop=True),
    )


def snapshot_hash(frame: pd.DataFrame) -> str:
    """A short content hash of the training rows (keys, labels, features) for lineage tags."""
    ordered = frame.sort_values([c for c in KEY if c in frame.columns] or list(frame.columns[:1]))
    digest = hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]
