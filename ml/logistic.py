"""The plain logistic regression candidate: standardised splines (or slopes) and one-hot categories.

A model-risk reviewer's benchmark: no binning choices to defend, every effect a smooth curve. Each
numeric feature becomes a standardised slope or cubic B-splines on quantile knots of the fitting slice (values beyond the end
knots take the end value), standardised, plus a missing indicator when the fitting slice has missing
values; each categorical feature is one-hot, rare levels pooled. The L2 strength is chosen by the
(weighted) log-loss on the calibration slice, never on the holdout; for a table brought by a user
(`ml.train.run_byo`) it is the mean log-loss over the selection folds of train (`settings_by_folds`).

Reason codes: the log-odds is linear in the design matrix, so per row and feature the contribution
`sum_k coef_k * (z_k - mean_k)` over the feature's columns, plus the bias `intercept + coef . mean`,
equals the raw log-odds exactly (the same additivity as the tree paths and the scorecard's points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

from ml.candidates import CreditModel, binnable
from ml.dataset import FeatureSpec

MISSING_SUFFIX = "|missing"


@dataclass
class LogisticModel(CreditModel):
    """LogisticRegression behind a per-feature design (splines / slopes, missing flags, one-hot)."""

    pre: Any = None  # a fitted ColumnTransformer, one transformer (or two) per feature
    lr: Any = None
    groups: list[tuple[str, np.ndarray]] = field(default_factory=list)  # feature -> its design columns
    mean_design: np.ndarray | None = None  # design means on the fitting slice: the contributions' origin
    # (design, C) -> log-loss on the calibration slice, for every setting tried (empty when not tuned)
    tuning_losses: dict[tuple[str, float], float] = field(default_factory=dict)

    @property
    def input_features(self) -> list[str]:
        return [name for name, _ in self.groups]

    def design(self, X: pd.DataFrame) -> np.ndarray:
        Z = self.pre.transform(X[self.input_features])
        return np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=float)

    def logit(self, X: pd.DataFrame) -> np.ndarray:
        return self.lr.decision_function(self.design(X))

    def predict_proba_bare(self, X: pd.DataFrame) -> np.ndarray:
        return self.lr.predict_proba(self.design(X))[:, 1]

    def _contributions(self, Z: np.ndarray) -> np.ndarray:
        weighted = (Z - self.mean_design) * self.lr.coef_[0]
        return np.column_stack([weighted[:, cols].sum(axis=1) for _, cols in self.groups])

    @property
    def bias(self) -> float:
        return float(self.lr.intercept_[0] + self.lr.coef_[0] @ self.mean_design)

    def risk_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        return self._contributions(self.design(X)), self.input_features

    def rate_inputs(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """One design pass gives the log-odds (bias + contributions) and the reasons."""
        contrib = self._contributions(self.design(X))
        return self.calibration(self.bias + contrib.sum(axis=1)), contrib, self.input_features


def _quantile_knots(values: np.ndarray, n_knots: int) -> np.ndarray | None:
    """Distinct quantile knots of the observed values, or None when fewer than 3 (use a slope)."""
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        return None
    knots = np.unique(np.quantile(observed, np.linspace(0, 1, n_knots)))
    return knots if len(knots) >= 3 else None


def _numeric_steps(values: np.ndarray, cfg: dict[str, Any]) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    knots = _quantile_knots(values, int(cfg.get("n_knots", 5))) if cfg.get("numeric") == "spline" else None
    if knots is not None:
        steps.append(
            ("spline", SplineTransformer(knots=knots.reshape(-1, 1), degree=3, extrapolation="constant"))
        )
    steps.append(("scale", StandardScaler()))
    return steps


def design_transformer(X: pd.DataFrame, spec: FeatureSpec, cfg: dict[str, Any]) -> ColumnTransformer:
    """One transformer per feature (named after it), plus a missing flag where the fit has gaps."""
    parts: list[tuple[str, Any, list[str]]] = []
    for name in spec.numeric:
        values = X[name].to_numpy(dtype=float)
        parts.append((name, Pipeline(_numeric_steps(values, cfg)), [name]))
        if np.isnan(values).any():
            parts.append((name + MISSING_SUFFIX, MissingIndicator(features="all"), [name]))
    for name in spec.categorical:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=float(cfg.get("min_category_share", 0.01)),
            sparse_output=False,
        )
        parts.append((name, encoder, [name]))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def _feature_groups(pre: ColumnTransformer, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """Per feature (in `names` order), the design columns its transformers produced."""
    columns: dict[str, list[int]] = {n: [] for n in names}
    for part, cols in pre.output_indices_.items():
        if part == "remainder":
            continue
        columns[part.removesuffix(MISSING_SUFFIX)].extend(range(cols.start, cols.stop))
    return [(n, np.asarray(columns[n], dtype=int)) for n in names]


def _tuning_rows(y: np.ndarray, cap: int) -> np.ndarray:
    """Row positions for tuning: all rows, or a fixed stratified sample of `cap` rows."""
    if len(y) <= cap:
        return np.arange(len(y))
    rng = np.random.default_rng(0)
    keep = [
        rng.choice(np.flatnonzero(y == c), size=max(1, int(cap * np.mean(y == c))), replace=False)
        for c in (0, 1)
    ]
    return np.sort(np.concatenate(keep))


def _preferred(
    losses: dict[tuple[str, float], tuple[float, Any, Any, np.ndarray]], spline_min_gain: float
) -> tuple[str, float]:
    """(design, C) with the lowest log-loss, but splines only when they beat the best slopes by at
    least `spline_min_gain` (relative): curves cost parameters, so they must earn them."""
    best = {d: min((v[0], c) for (dd, c), v in losses.items() if dd == d) for d in {d for d, _ in losses}}
    if "spline" in best and "linear" in best:
        if best["spline"][0] < best["linear"][0] * (1 - spline_min_gain):
            return "spline", best["spline"][1]
        return "linear", best["linear"][1]
    design = next(iter(best))
    return design, best[design][1]


def settings_by_folds(fold_models: list[LogisticModel], spline_min_gain: float) -> tuple[str, float] | None:
    """(design, C) by K-fold cross-validation: each fold's model was tuned on its own held-out fold, so
    the mean of their log-losses per setting is the cross-validated log-loss; the same rule as one slice
    (`_preferred`) then picks. None when a fold was not tuned on the same settings."""
    tried = [m.tuning_losses for m in fold_models]
    if not tried or not all(tried) or any(set(t) != set(tried[0]) for t in tried):
        return None
    mean = {key: (float(np.mean([t[key] for t in tried])), None, None, np.empty(0)) for key in tried[0]}
    return _preferred(mean, spline_min_gain)


def fit_logistic(
    X: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    cfg: dict[str, Any],
    X_val: pd.DataFrame,
    y_val: np.ndarray,
    sample_weight: np.ndarray | None = None,
    sample_weight_val: np.ndarray | None = None,
) -> LogisticModel:
    """Fit the design on the fitting slice; pick the numeric design (config `numeric: auto` tries slopes
    and splines) and C by the calibration slice's log-loss."""
    spec = binnable(X, spec)
    if not spec.names:
        raise ValueError("no feature with two distinct values: nothing for a logistic regression to use")
    grid = cfg.get("C", [1.0])
    grid = grid if isinstance(grid, list) else [grid]
    mode = cfg.get("numeric", "auto")
    designs = ["linear", "spline"] if mode == "auto" else [mode]
    judge = len(np.unique(y_val)) == 2 and len(grid) * len(designs) > 1
    design, C = designs[0], float(grid[0])
    fitted: tuple[Any, Any, np.ndarray] | None = None  # kept when the tuning rows are all the rows
    losses: dict[tuple[str, float], tuple[float, Any, Any, np.ndarray]] = {}
    if judge:  # tune on at most tune_max_rows of the fitting slice, then fit once on all of it
        rows = _tuning_rows(np.asarray(y), int(cfg.get("tune_max_rows", 100_000)))
        w_tune = None if sample_weight is None else np.asarray(sample_weight)[rows]
        for candidate_design in designs:
            tune_pre = design_transformer(X.iloc[rows], spec, {**cfg, "numeric": candidate_design})
            Zt = np.asarray(tune_pre.fit_transform(X.iloc[rows][spec.names]), dtype=float)
            Zv = np.asarray(tune_pre.transform(X_val[spec.names]), dtype=float)
            for c in grid:
                lr = LogisticRegression(C=float(c), max_iter=int(cfg.get("max_iter", 2000)))
                lr.fit(Zt, np.asarray(y)[rows], sample_weight=w_tune)
                p = lr.predict_proba(Zv)[:, 1]
                loss = log_loss(y_val, p, sample_weight=sample_weight_val, labels=[0, 1])
                losses[(candidate_design, float(c))] = (loss, tune_pre, lr, Zt)
        design, C = _preferred(losses, float(cfg.get("spline_min_gain", 0.0)))
        if len(rows) == len(X):
            fitted = losses[(design, C)][1:]
    if fitted is not None:
        pre, lr, Z = fitted
    else:
        pre = design_transformer(X, spec, {**cfg, "numeric": design})
        Z = np.asarray(pre.fit_transform(X[spec.names]), dtype=float)
        lr = LogisticRegression(C=C, max_iter=int(cfg.get("max_iter", 2000)))
        lr.fit(Z, y, sample_weight=sample_weight)
    mean = np.average(Z, axis=0, weights=sample_weight)
    return LogisticModel(
        name="logistic",
        spec=spec,
        pre=pre,
        lr=lr,
        groups=_feature_groups(pre, spec.names),
        mean_design=mean,
        tuning_losses={key: v[0] for key, v in losses.items()},
        params={**cfg, "C_chosen": float(lr.C), "numeric_chosen": design},
    )
