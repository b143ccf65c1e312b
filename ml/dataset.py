"""The training set: point-in-time features joined to mature labels, split out of time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.config import load_config
from common.sql_identifiers import identifier

TARGET = "default_flag"
KEY = ["customer_id", "as_of_date"]


@dataclass(frozen=True)
class FeatureSpec:
    """Model inputs by kind, from config/features.yml (or inferred for a table brought by a user)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # (feature, +1 | -1): a higher value raises (+1) or lowers (-1) the risk; features.yml `risk_direction`
    directions: tuple[tuple[str, int], ...] = ()

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def direction(self, name: str) -> int:
        """+1, -1, or 0 when the feature's direction of risk is not documented."""
        return dict(self.directions).get(name, 0)

    def keep(self, names: set[str]) -> FeatureSpec:
        """The same spec restricted to `names` (order and directions kept)."""
        return FeatureSpec(
            numeric=tuple(c for c in self.numeric if c in names),
            categorical=tuple(c for c in self.categorical if c in names),
            directions=tuple((c, d) for c, d in self.directions if c in names),
        )


RISK_DIRECTIONS = {"increasing": 1, "decreasing": -1}


def feature_spec(config: dict[str, Any] | None = None) -> FeatureSpec:
    """Model features (model != false) by kind, their names checked as identifiers (they reach SQL)."""
    features = (config or load_config("features"))["features"]
    used = [
        (identifier(f["name"], "features.yml: feature name"), f["kind"])
        for f in features
        if f.get("model", True) and f["kind"] in ("numeric", "categorical", "flag")
    ]
    directions = []
    for f in features:
        raw = f.get("risk_direction")
        if raw is None or not f.get("model", True):
            continue
        if raw not in RISK_DIRECTIONS or f["kind"] == "categorical":
            raise ValueError(
                f"features.yml: {f['name']}: risk_direction must be one of {sorted(RISK_DIRECTIONS)} "
                f"on a numeric feature, got {raw!r} on a {f['kind']} feature"
            )
        directions.append((f["name"], RISK_DIRECTIONS[raw]))
    return FeatureSpec(
        numeric=tuple(name for name, kind in used if kind in ("numeric", "flag")),
        categorical=tuple(name for name, kind in used if kind == "categorical"),
        directions=tuple(directions),
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


def infer_directions(X: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, min_abs_rho: float) -> FeatureSpec:
    """The spec with each numeric feature's direction of risk taken from the data: the sign of its
    Spearman correlation with the target when |rho| >= min_abs_rho (else unconstrained). For tables
    brought by a user, which document no direction; documented directions are kept."""
    known = dict(spec.directions)
    target = pd.Series(np.asarray(y, dtype=float), index=X.index)
    for name in spec.numeric:
        if name in known:
            continue
        rho = X[name].rank().corr(target.rank())
        if np.isfinite(rho) and abs(rho) >= min_abs_rho:
            known[name] = 1 if rho > 0 else -1
    return FeatureSpec(spec.numeric, spec.categorical, tuple(sorted(known.items())))


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
        data[col] = (
            values.to_numpy(dtype="float64", na_value=np.nan)
            if values.dtype.kind in "fiub"
            else pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        )
    for col in categorical:
        values = frame[col].astype("object")
        data[col] = values.where(values.notna(), "__missing__").astype(str).to_numpy(dtype=object)
    return pd.DataFrame(data, index=frame.index)


# --- bounded training sample ----------------------------------------------------------------------
#
# Training never holds the whole labelled history: the rows are read from PostgreSQL through a
# server-side cursor, chunk by chunk, with compact dtypes (float32 numerics, categorical codes), and
# each out-of-time slice is capped by a deterministic sample (config/model.yml `sample`):
# - fitting and calibration slices: every default is kept (unless defaults alone would fill more than
#   half the cap), non-defaults are kept when a hash of their customer_id falls under the slice's rate;
# - holdout: the same customer hash, one rate for defaults and non-defaults (a plain customer sample),
#   so its unweighted metrics (the promotion gate, `models compare`) stay unbiased.
# The hash is per customer, so a kept customer is kept in every snapshot of the slice. Every kept row
# carries sample_weight = 1 / its rate (Horvitz-Thompson): weighted fits, calibration, metrics and
# grade mixes estimate the full population's.

WEIGHT = "sample_weight"
HASH_SPACE = 2**32  # customer hash: the first 32 bits of md5(customer_id), in SQL and in Python alike
SAMPLE_DEFAULTS = {
    "max_fit_rows": 500_000,
    "max_calibration_rows": 200_000,
    "max_holdout_rows": 300_000,
    "chunk_rows": 100_000,
}


def customer_hash(customer_ids: Any) -> np.ndarray:
    """First 32 bits of md5(customer_id) as uint64, per row (computed once per distinct customer).

    Equal to PostgreSQL's `('x' || left(md5(customer_id), 8))::bit(32)::bigint`.
    """
    codes, uniques = pd.factorize(pd.Series(customer_ids, copy=False).astype(str), sort=False)
    digests = np.fromiter(
        (int.from_bytes(hashlib.md5(u.encode()).digest()[:4], "big") for u in uniques),  # noqa: S324 - not security
        dtype=np.uint64,
        count=len(uniques),
    )
    return digests[codes]


def _threshold(rate: float) -> int:
    """Keep a row when its customer hash is below this (rate 1 keeps all)."""
    return HASH_SPACE if rate >= 1 else max(1, int(rate * HASH_SPACE))


@dataclass(frozen=True)
class SliceSample:
    """One out-of-time slice: rows available and the hash thresholds that sample it."""

    name: str
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    defaults: int  # rows available with default_flag = 1
    non_defaults: int  # rows available with default_flag = 0
    default_threshold: int = HASH_SPACE
    non_default_threshold: int = HASH_SPACE

    @property
    def rows_available(self) -> int:
        return self.defaults + self.non_defaults

    @property
    def default_rate(self) -> float:
        return self.default_threshold / HASH_SPACE

    @property
    def non_default_rate(self) -> float:
        return self.non_default_threshold / HASH_SPACE


def _rates(defaults: int, non_defaults: int, cap: int | None, stratified: bool) -> tuple[float, float]:
    """(default rate, non-default rate) so that about `cap` rows are kept."""
    total = defaults + non_defaults
    if not cap or total <= cap:
        return 1.0, 1.0
    if not stratified:
        return cap / total, cap / total
    d = min(1.0, cap / 2 / defaults) if defaults else 1.0
    g = min(1.0, (cap - d * defaults) / non_defaults) if non_defaults else 1.0
    return d, g


def sample_settings(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """config/model.yml `sample`, with the defaults filled in (a cap of null or 0 means no cap)."""
    cfg = (config or load_config("model")).get("sample") or {}
    return {**SAMPLE_DEFAULTS, **cfg}


def split_dates(dates: Any, config: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(first calibration date, first holdout date) of the out-of-time split of these snapshot dates."""
    cfg = (config or load_config("model"))["split"]
    dates = np.sort(pd.unique(pd.Series(dates)))
    n_hold, n_cal = int(cfg["holdout_snapshots"]), int(cfg["calibration_snapshots"])
    need = n_hold + n_cal + int(cfg.get("min_train_snapshots", 1))
    if len(dates) < need:
        raise ValueError(
            f"{len(dates)} labelled snapshot dates; need at least {need} for an out-of-time split"
        )
    return dates[-(n_hold + n_cal)], dates[-n_hold]


@dataclass(frozen=True)
class SamplePlan:
    """How each slice of the training set is sampled; weights and MLflow params follow from it."""

    fit: SliceSample
    calibration: SliceSample
    holdout: SliceSample

    @property
    def slices(self) -> tuple[SliceSample, ...]:
        return self.fit, self.calibration, self.holdout

    def thresholds(self, as_of_date: Any, default_flag: Any) -> np.ndarray:
        """Per row, the hash threshold of its slice and class."""
        when = pd.to_datetime(pd.Series(as_of_date, copy=False)).to_numpy()
        bad = np.asarray(default_flag).astype(int) == 1
        out = np.empty(len(when), dtype=np.uint64)
        for s in self.slices:
            inside = (when >= np.datetime64(s.first_date)) & (when <= np.datetime64(s.last_date))
            out[inside & bad] = s.default_threshold
            out[inside & ~bad] = s.non_default_threshold
        return out

    def weights(self, as_of_date: Any, default_flag: Any) -> np.ndarray:
        """1 / sampling rate of each row's slice and class."""
        return HASH_SPACE / self.thresholds(as_of_date, default_flag).astype(np.float64)

    def keep(self, customer_id: Any, as_of_date: Any, default_flag: Any) -> np.ndarray:
        """The sampling rule in Python (the database applies the same one in SQL)."""
        return customer_hash(customer_id) < self.thresholds(as_of_date, default_flag)

    def summary(self, rows_used: dict[str, int] | None = None) -> dict[str, Any]:
        """JSON-able description: per slice the window, rows available, rates (and rows used)."""
        out: dict[str, Any] = {}
        for s in self.slices:
            out[s.name] = {
                "window": f"{s.first_date:%Y-%m-%d}..{s.last_date:%Y-%m-%d}",
                "rows_available": s.rows_available,
                "defaults_available": s.defaults,
                "default_rate": s.default_rate,
                "non_default_rate": s.non_default_rate,
            }
            if rows_used is not None:
                out[s.name]["rows_used"] = int(rows_used.get(s.name, 0))
        return out


def plan_sample(counts: pd.DataFrame, config: dict[str, Any] | None = None) -> SamplePlan:
    """The sample of each slice from the rows available per (as_of_date, default_flag).

    `counts` has columns as_of_date, default_flag, rows (rows in default already left out).
    """
    config = config or load_config("model")
    settings = sample_settings(config)
    counts = counts.assign(as_of_date=pd.to_datetime(counts["as_of_date"]))
    cal_from, hold_from = split_dates(counts["as_of_date"], config)
    when = counts["as_of_date"]
    parts = {
        "fit": when < cal_from,
        "calibration": (when >= cal_from) & (when < hold_from),
        "holdout": when >= hold_from,
    }
    caps = {
        "fit": settings["max_fit_rows"],
        "calibration": settings["max_calibration_rows"],
        "holdout": settings["max_holdout_rows"],
    }
    slices = {}
    for name, inside in parts.items():
        part = counts[inside]
        bad = part["default_flag"].astype(int) == 1
        defaults, non_defaults = int(part.loc[bad, "rows"].sum()), int(part.loc[~bad, "rows"].sum())
        d, g = _rates(defaults, non_defaults, caps[name], stratified=name != "holdout")
        slices[name] = SliceSample(
            name,
            part["as_of_date"].min(),
            part["as_of_date"].max(),
            defaults,
            non_defaults,
            _threshold(d),
            _threshold(g),
        )
    return SamplePlan(**slices)


def counts_of(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows per (as_of_date, default_flag) of a frame."""
    grouped = frame.groupby([pd.to_datetime(frame["as_of_date"]), frame[TARGET].astype(int)]).size()
    return grouped.rename("rows").reset_index()


def drop_in_default(frame: pd.DataFrame, config: dict[str, Any] | None = None) -> pd.DataFrame:
    cfg = (config or load_config("model"))["split"]
    if cfg.get("exclude_in_default", True) and "in_default" in frame.columns:
        return frame[pd.to_numeric(frame["in_default"], errors="coerce").fillna(0).astype(int) != 1]
    return frame


def compact(frame: pd.DataFrame, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Training columns only, in compact dtypes: float32 numerics, category dtype for categoricals, int8
    flags and labels."""
    spec = spec or feature_spec()
    data: dict[str, Any] = {}
    for col in [*KEY, *spec.names, "in_default", TARGET, WEIGHT]:
        if col not in frame.columns:
            continue
        values = frame[col]
        if col == "as_of_date":
            data[col] = pd.to_datetime(values)
        elif col == "customer_id":
            data[col] = values.astype(str)
        elif col in spec.numeric:
            data[col] = (
                values.to_numpy(dtype="float32", na_value=np.nan)
                if values.dtype.kind in "fiub"
                else pd.to_numeric(values, errors="coerce").to_numpy(dtype="float32", na_value=np.nan)
            )
        elif col in spec.categorical:
            data[col] = values.astype("category")
        elif col in ("in_default", TARGET):
            data[col] = pd.to_numeric(values, errors="coerce").fillna(0).astype("int8")
        else:
            data[col] = values.astype("float64")
    return pd.DataFrame(data, index=frame.index)


def sample_frame(
    frame: pd.DataFrame, config: dict[str, Any] | None = None, spec: FeatureSpec | None = None
) -> tuple[pd.DataFrame, SamplePlan]:
    """The in-memory version of the bounded read: drop rows in default, sample, weigh, compact."""
    config = config or load_config("model")
    frame = drop_in_default(frame, config)
    plan = plan_sample(counts_of(frame), config)
    keep = plan.keep(frame["customer_id"], frame["as_of_date"], frame[TARGET])
    kept = compact(frame[keep], spec)
    weights = plan.weights(kept["as_of_date"], kept[TARGET])
    if WEIGHT in kept.columns:  # already weighted (a sample of a sample): rates multiply
        weights = weights * kept[WEIGHT].to_numpy(dtype="float64")
    kept[WEIGHT] = weights
    return kept.reset_index(drop=True), plan


def row_weights(frame: pd.DataFrame) -> np.ndarray:
    """The rows' sample weights (1 when the frame was not sampled)."""
    if WEIGHT in frame.columns:
        return frame[WEIGHT].to_numpy(dtype="float64")
    return np.ones(len(frame))


# Snapshots in the first `warmup_months` of the marts' history are left out: their 3/6/12-month
# windows reach back before the first loaded data, so their features are not comparable with later
# ones (a model fitted on them looks drifted on the holdout).
LABELLED_SQL = """
from marts.customer_features f
join marts.customer_default_labels l using (customer_id, as_of_date)
where (%(as_of)s::date is null or l.horizon_end_date <= %(as_of)s::date)
  and f.as_of_date >= (select min(as_of_date) from marts.customer_features)
                      + make_interval(months => %(warmup)s)
  and (not %(exclude_in_default)s or coalesce(f.in_default, 0) <> 1)
"""
COUNTS_SQL = "select f.as_of_date, l.default_flag, count(*) as rows" + LABELLED_SQL + "group by 1, 2"
# on the label side, so the database can filter the narrow labels table before joining the features
HASH_SQL = "('x' || left(md5(l.customer_id), 8))::bit(32)::bigint"


def _select_list(spec: FeatureSpec, flags: set[str]) -> str:
    # numerics travel as real (float4): the client keeps float32 anyway, and shorter text is cheaper
    # for the server to format and for the client to parse (same values as casting float8 -> float32)
    cols = ["f.customer_id", "f.as_of_date"]
    cols += [
        f'f."{c}"::integer::real as "{c}"' if c in flags else f'f."{c}"::real as "{c}"' for c in spec.numeric
    ]
    cols += [f'f."{c}"::text as "{c}"' for c in spec.categorical]
    cols += ["coalesce(f.in_default, 0)::integer as in_default", "l.default_flag::integer as default_flag"]
    return ", ".join(cols)


def _sample_condition(plan: SamplePlan) -> str:
    """SQL: the row's customer hash is below its slice's threshold (the rule of SamplePlan.keep)."""
    branches = []
    for s in plan.slices:
        if s.default_threshold >= HASH_SPACE and s.non_default_threshold >= HASH_SPACE:
            continue
        branches.append(
            f"when l.as_of_date between date '{s.first_date:%Y-%m-%d}' and date '{s.last_date:%Y-%m-%d}' then "
            f"{HASH_SQL} < case when l.default_flag = 1 then {int(s.default_threshold)} "
            f"else {int(s.non_default_threshold)} end"
        )
    return f"and case {' '.join(branches)} else true end" if branches else ""


def _chunk_frame(rows: list[tuple], columns: list[str], spec: FeatureSpec) -> pd.DataFrame:
    """One fetched chunk -> compact columns (None becomes NaN in the float32 arrays)."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    data: dict[str, Any] = {}
    for name, values in zip(columns, cols, strict=True):
        if name == "customer_id":
            data[name] = pd.array(values, dtype="str")
        elif name == "as_of_date":
            data[name] = np.array(values, dtype="datetime64[D]")
        elif name in spec.numeric:
            data[name] = np.array(values, dtype=np.float32)
        elif name in spec.categorical:  # Arrow-backed strings until the concatenated frame gets categories
            data[name] = pd.array(values, dtype="str")
        else:
            data[name] = np.array(values, dtype=np.int8)
    return pd.DataFrame(data)


def load_training_frame(
    url: str | None = None,
    as_of_date: Any = None,
    *,
    sample: bool = True,
    warmup_months: int | None = None,
    config: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Feature snapshots joined to their mature labels (horizon ended by as_of_date when given).

    Bounded in memory whatever the size of the marts: rows in default are left out in the database,
    each slice is sampled there (config `sample`; `sample=False` reads every row), and the rest arrives
    through a server-side cursor, `chunk_rows` at a time, in compact dtypes. The frame carries the
    `sample_weight` column and its SamplePlan in `frame.attrs["sample_plan"]`.
    """
    from common.warehouse import column_names, connect

    config = config or load_config("model")
    split_cfg = config["split"]
    features = load_config("features")
    spec = feature_spec(features)
    flags = {f["name"] for f in features["features"] if f["kind"] == "flag"}
    settings = sample_settings(config)
    warmup = int(split_cfg.get("warmup_months", 0) if warmup_months is None else warmup_months)
    params = {
        "as_of": None if as_of_date is None else str(as_of_date),
        "warmup": warmup,
        "exclude_in_default": bool(split_cfg.get("exclude_in_default", True)),
    }
    conn = connect(url or "warehouse")
    try:
        with conn.cursor() as cur:
            cur.execute(COUNTS_SQL, params)
            counts = pd.DataFrame(cur.fetchall(), columns=["as_of_date", "default_flag", "rows"])
        if counts.empty:
            raise ValueError(
                "no labelled snapshots after the warm-up (config/model.yml split.warmup_months) in "
                "marts.customer_default_labels: load more history (labels need the 12-month horizon to pass)"
            )
        plan = plan_sample(
            counts,
            config
            if sample
            else {
                **config,
                "sample": {"max_fit_rows": None, "max_calibration_rows": None, "max_holdout_rows": None},
            },
        )
        # No ORDER BY: sorting the bounded sample here is cheaper than a sort spilling to disk there.
        query = f"select {_select_list(spec, flags)}" + LABELLED_SQL + _sample_condition(plan)
        chunk = int(settings["chunk_rows"])
        chunks = []
        with conn.cursor() as cur:  # plan the cursor for the whole result, not for its first rows
            cur.execute("set local cursor_tuple_fraction = 1.0")
        with conn.cursor(name="training_sample") as cur:  # server-side: the client holds one chunk
            cur.itersize = chunk
            cur.execute(query, params)
            while rows := cur.fetchmany(chunk):
                columns = column_names(cur)
                chunks.append(_chunk_frame(rows, columns, spec))
                del rows
    finally:
        conn.close()
    if not chunks:
        raise ValueError("the training sample is empty: check config/model.yml `sample`")
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    del chunks
    frame = frame.sort_values(KEY, ignore_index=True)  # a deterministic row order for the fits
    for col in spec.categorical:
        frame[col] = frame[col].astype("category")
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"])
    frame[WEIGHT] = plan.weights(frame["as_of_date"], frame[TARGET])
    frame.attrs["sample_plan"] = plan
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
    frame = drop_in_default(frame, config)
    cal_from, hold_from = split_dates(frame["as_of_date"], config)
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
