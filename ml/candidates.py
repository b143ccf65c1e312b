"""Candidate PD models: a WoE logistic scorecard, a plain logistic regression (ml.logistic), a decision
tree, gradient boosting and monotone-constrained gradient boosting, all calibrated.

Every candidate exposes the same small interface: `logit(X)` (raw log-odds of default),
`predict_pd(X)` (calibrated PD), `risk_contributions(X)` (per row and feature, how much that feature
pushes risk up, in the candidate's own unit) and `predict_proba_bare(X)` (the bare estimator, for
benchmarks). Calibration is Platt scaling of the raw log-odds fitted on the calibration slice (the
snapshots just before the holdout); it is monotone, so rankings and reason codes are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OrdinalEncoder
from sklearn.tree import DecisionTreeClassifier

from ml.dataset import FeatureSpec

CANDIDATES = ("scorecard", "logistic", "decision_tree", "hgb", "hgb_monotone")
BOOSTED = ("hgb", "hgb_monotone")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-5, 1 - 1e-5)
    return np.log(p / (1 - p))


@dataclass
class Platt:
    """PD = sigmoid(a * raw_logit + b)."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, raw_logit: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Platt:
        if len(np.unique(y)) < 2:
            return cls()
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(
            raw_logit.reshape(-1, 1), y, sample_weight=sample_weight
        )
        a = float(lr.coef_[0, 0])
        if a <= 0:  # a calibration that reverses the ranking means the slice is too small: keep raw
            return cls()
        return cls(a=a, b=float(lr.intercept_[0]))

    def __call__(self, raw_logit: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * raw_logit + self.b)))


@dataclass
class CreditModel:
    """Common part of the candidates: the feature spec and the calibration."""

    name: str
    spec: FeatureSpec
    calibration: Platt = field(default_factory=Platt)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def input_features(self) -> list[str]:
        """The columns the model reads."""
        return self.spec.names

    def logit(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibration(self.logit(X))

    def risk_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        raise NotImplementedError

    def predict_proba_bare(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def rate_inputs(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Calibrated PD, risk contributions and their feature names (models override it to share work)."""
        contrib, names = self.risk_contributions(X)
        return self.predict_pd(X), contrib, names

    def calibrate(
        self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> CreditModel:
        """Platt scaling on the calibration slice (weighted when the slice was sampled)."""
        self.calibration = Platt.fit(self.logit(X), np.asarray(y), sample_weight)
        return self


@dataclass
class ScorecardModel(CreditModel):
    """Logistic regression on WoE of monotonic optbinning bins, with PDO-scaled points.

    points_j(x) = -factor * a * coef_j * woe_j(x); intercept points carry the rest, so that
    intercept + sum_j points_j = offset + factor * ln(odds of good) = the PDO score before rounding.
    """

    binning: Any = None
    lr: Any = None  # a fitted LogisticRegression
    selected: list[str] = field(default_factory=list)
    factor: float = 20 / np.log(2)
    offset: float = 0.0
    best_points: np.ndarray | None = None

    @property
    def input_features(self) -> list[str]:
        return list(self.selected)

    def woe(self, X: pd.DataFrame) -> np.ndarray:
        W = self.binning.transform(
            X[self.selected], metric="woe", metric_missing="empirical", metric_special="empirical"
        )
        return np.asarray(W[self.selected], dtype=float)

    def logit(self, X: pd.DataFrame) -> np.ndarray:
        return self.lr.decision_function(self.woe(X))

    def predict_proba_bare(self, X: pd.DataFrame) -> np.ndarray:
        """optbinning WoE transform + LogisticRegression.predict_proba (the estimator without rating)."""
        return self.lr.predict_proba(self.woe(X))[:, 1]

    def points_from_woe(self, W: np.ndarray) -> np.ndarray:
        return -self.factor * self.calibration.a * self.lr.coef_[0] * W

    def points(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points per characteristic, per row (higher is better)."""
        return pd.DataFrame(self.points_from_woe(self.woe(X)), columns=self.selected, index=X.index)

    @property
    def intercept_points(self) -> float:
        return float(
            self.offset - self.factor * (self.calibration.a * self.lr.intercept_[0] + self.calibration.b)
        )

    def risk_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Points lost against each characteristic's best bin."""
        return self.best_points - self.points_from_woe(self.woe(X)), list(self.selected)

    def rate_inputs(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """One WoE pass for both the PD and the points lost (the fast path of the pyfunc)."""
        W = self.woe(X)
        pd_ = self.calibration(self.lr.decision_function(W))
        return pd_, self.best_points - self.points_from_woe(W), list(self.selected)

    def finish(self, X_fit: pd.DataFrame) -> None:
        """Best points per characteristic: the best bin seen in training (or the neutral WoE of 0)."""
        best = self.points_from_woe(self.woe(X_fit)).max(axis=0)
        self.best_points = np.maximum(best, 0.0)

    def table(self) -> pd.DataFrame:
        """The scorecard: bins and points per characteristic (for the model card)."""
        rows = []
        coef = dict(zip(self.selected, self.lr.coef_[0], strict=True))
        for name in self.selected:
            bt = self.binning.get_binned_variable(name).binning_table.build()
            bt = bt[bt.index != "Totals"]
            for _, row in bt.iterrows():
                woe = float(row["WoE"]) if row["WoE"] != "" else 0.0
                pts = -self.factor * self.calibration.a * coef[name] * woe
                rows.append(
                    {
                        "characteristic": name,
                        "bin": str(row["Bin"]),
                        "count": int(row["Count"]),
                        "event_rate": float(row["Event rate"]),
                        "woe": woe,
                        "points": round(pts, 1),
                    }
                )
        return pd.DataFrame(rows)


def hgb_path_tables(clf: HistGradientBoostingClassifier) -> tuple[list[Any], np.ndarray]:
    """Per tree, a copy whose leaves return their own node id, and a (nodes x features) table holding,
    for every node, the per-feature sum of value changes along the path from the root to that node."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    shrink = float(clf.learning_rate)
    n_features = int(clf.n_features_in_)
    locators, tables, offset = [], [], 0
    for (tree,) in clf._predictors:
        nodes = tree.nodes
        # internal node values are unshrunk Newton steps; leaf values already carry the shrinkage
        value = np.where(nodes["is_leaf"] == 1, nodes["value"], nodes["value"] * shrink)
        value[0] = 0.0  # the root carries no information beyond the baseline
        table = np.zeros((len(nodes), n_features))
        stack = [0]
        while stack:
            i = stack.pop()
            if nodes["is_leaf"][i]:
                continue
            for child in (int(nodes["left"][i]), int(nodes["right"][i])):
                table[child] = table[i]
                table[child, nodes["feature_idx"][i]] += value[child] - value[i]
                stack.append(child)
        ids = nodes.copy()
        ids["value"] = np.arange(len(nodes)) + offset
        locators.append(TreePredictor(ids, tree.binned_left_cat_bitsets, tree.raw_left_cat_bitsets))
        tables.append(table)
        offset += len(nodes)
    return locators, np.vstack(tables) if tables else np.zeros((0, n_features))


def hgb_path_contributions(
    clf: HistGradientBoostingClassifier, Xe: np.ndarray, tables: tuple[list[Any], np.ndarray] | None = None
) -> np.ndarray:
    """Path attribution (Saabas / treeinterpreter) of a binary HistGradientBoostingClassifier.

    Along each tree's decision path, the change of node value at every split is credited to the split's
    feature, so per row: baseline + sum of contributions = the model's raw log-odds, exactly. Rows are
    routed by scikit-learn's own compiled tree predictor (same handling of missing values and unseen
    categories as predict); the per-leaf path sums are precomputed, so the cost is about one prediction
    plus a sparse product. Reads fitted-tree internals; `test_ml_models` checks the additivity so a
    scikit-learn change that breaks it fails loudly.
    """
    from scipy import sparse
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    locators, table = tables or hgb_path_tables(clf)
    n = Xe.shape[0]
    if not locators:
        return np.zeros((n, table.shape[1]))
    X = np.ascontiguousarray(Xe, dtype=np.float64)
    known, f_idx_map = clf._bin_mapper.make_known_categories_bitsets()
    threads = _openmp_effective_n_threads()
    leaves = np.empty((n, len(locators)), dtype=np.int64)
    for t, locator in enumerate(locators):
        leaves[:, t] = locator.predict(X, known, f_idx_map, threads)
    k = len(locators)
    L = sparse.csr_matrix(
        (np.ones(n * k), leaves.ravel(), np.arange(0, n * k + 1, k)), shape=(n, table.shape[0])
    )
    return np.asarray(L @ table)


def decision_tree_path_table(clf: DecisionTreeClassifier) -> tuple[np.ndarray, float]:
    """(nodes x features) path sums of log-odds changes of a fitted decision tree, and the root log-odds."""
    tree = clf.tree_
    counts = tree.value[:, 0, :]
    node_logit = _logit(counts[:, 1] / counts.sum(axis=1))
    table = np.zeros((tree.node_count, int(clf.n_features_in_)))
    stack = [0]
    while stack:
        i = stack.pop()
        for child in (tree.children_left[i], tree.children_right[i]):
            if child < 0:
                continue
            table[child] = table[i]
            table[child, tree.feature[i]] += node_logit[child] - node_logit[i]
            stack.append(child)
    return table, float(node_logit[0])


@dataclass
class TreeModel(CreditModel):
    """A tree model (decision tree or HistGradientBoosting) behind an ordinal encoder for categoricals.

    Per-row attribution (reason codes): path attribution in raw log-odds units. Along the decision path,
    the change in node log-odds at every split is credited to the split's feature, so the bias plus the
    contributions equal the model's raw log-odds exactly. Rows are routed once (HGB's compiled
    predictor, the tree's `apply`) and give both the PD and the reasons.
    """

    pre: Any = None  # a fitted ColumnTransformer
    clf: Any = None
    encoded_names: list[str] = field(default_factory=list)

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        return self.pre.transform(X[self.spec.names]).astype(float)

    def _logit_encoded(self, Xe: np.ndarray) -> np.ndarray:
        return _logit(self.clf.predict_proba(Xe)[:, 1])

    def logit(self, X: pd.DataFrame) -> np.ndarray:
        return self._logit_encoded(self.encode(X))

    def predict_proba_bare(self, X: pd.DataFrame) -> np.ndarray:
        return self.clf.predict_proba(self.encode(X))[:, 1]

    def _paths(self, Xe: np.ndarray) -> tuple[np.ndarray, float]:
        """Contributions per row and feature, and the bias (raw log-odds = bias + row sum)."""
        tables: Any = getattr(self, "_path_tables", None)
        if tables is None:
            if isinstance(self.clf, HistGradientBoostingClassifier):
                tables = hgb_path_tables(self.clf)
            else:
                tables = decision_tree_path_table(self.clf)
            self._path_tables = tables
        if isinstance(self.clf, HistGradientBoostingClassifier):
            bias = float(self.clf._baseline_prediction.ravel()[0])
            return hgb_path_contributions(self.clf, Xe, tables), bias
        table, bias = tables
        return table[self.clf.apply(Xe)], bias

    def rate_inputs(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """One routing pass gives both the log-odds (bias + contributions) and the reasons."""
        contrib, bias = self._paths(self.encode(X))
        return self.calibration(bias + contrib.sum(axis=1)), contrib, list(self.encoded_names)

    def risk_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        return self._paths(self.encode(X))[0], list(self.encoded_names)


def _encoder(spec: FeatureSpec) -> ColumnTransformer:
    return ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
                ),
                list(spec.categorical),
            ),
            ("num", "passthrough", list(spec.numeric)),
        ],
        verbose_feature_names_out=False,
    )


def binnable(X: pd.DataFrame, spec: FeatureSpec) -> FeatureSpec:
    """Features with at least two distinct observed values (all-missing columns cannot be binned)."""
    return spec.keep({c for c in spec.names if X[c].nunique(dropna=True) >= 2})


def fit_scorecard(
    X: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    cfg: dict[str, Any],
    scaling: dict[str, Any],
    sample_weight: np.ndarray | None = None,
) -> ScorecardModel:
    from optbinning import BinningProcess

    full_spec, spec = spec, binnable(X, spec)
    b, sel = cfg["binning"], cfg["selection"]
    numeric_params = {n: {"monotonic_trend": b.get("monotonic_trend", "auto_asc_desc")} for n in spec.numeric}
    process = BinningProcess(
        spec.names,
        categorical_variables=list(spec.categorical),
        max_n_prebins=b.get("max_n_prebins", 20),
        min_prebin_size=b.get("min_prebin_size", 0.05),
        max_n_bins=b.get("max_n_bins"),
        min_bin_size=b.get("min_bin_size"),
        selection_criteria={
            "iv": {"min": sel["iv_min"], "max": sel["iv_max"], "strategy": "highest", "top": sel["top"]}
        },
        binning_fit_params=numeric_params,
    )
    process.fit(X[spec.names], y, sample_weight=sample_weight)
    selected = [str(n) for n in process.get_support(names=True)]
    if not selected:
        raise ValueError("no characteristic passed the IV selection: nothing for a scorecard to use")
    model = ScorecardModel(name="scorecard", spec=full_spec, binning=process, selected=selected, params=cfg)
    W = process.transform(
        X[spec.names], metric="woe", metric_missing="empirical", metric_special="empirical"
    )[selected]
    lr_cfg = cfg.get("logistic", {})
    model.lr = LogisticRegression(C=lr_cfg.get("C", 1.0), max_iter=lr_cfg.get("max_iter", 1000))
    model.lr.fit(np.asarray(W, dtype=float), y, sample_weight=sample_weight)
    model.factor = float(scaling["pdo"] / np.log(2))
    model.offset = float(scaling["base_score"] - model.factor * np.log(scaling["base_odds"]))
    return model


def fit_tree(
    name: str,
    X: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    cfg: dict[str, Any],
    seed: int = 0,
    X_val: pd.DataFrame | None = None,
    y_val: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    sample_weight_val: np.ndarray | None = None,
) -> TreeModel:
    """Fit a decision tree or HGB. HGB stops early on (X_val, y_val) when given: the out-of-time
    calibration slice, since a random validation split of panel data shares customers with the fit.
    Sample weights (a sampled training set) weigh the fit and the early-stopping loss."""
    spec = binnable(X, spec)  # all-missing or constant columns carry nothing (and break HGB's binning)
    pre = _encoder(spec)
    Xe = pre.fit_transform(X[spec.names]).astype(float)
    n_cat = len(spec.categorical)
    if name in BOOSTED:
        # hgb_monotone: each numeric feature's effect follows its documented direction of risk (the
        # encoder puts the categoricals first; they stay unconstrained)
        monotone = [0] * n_cat + [spec.direction(c) for c in spec.numeric] if name == "hgb_monotone" else None
        clf = HistGradientBoostingClassifier(
            monotonic_cst=monotone,
            learning_rate=cfg.get("learning_rate", 0.05),
            max_iter=cfg.get("max_iter", 200),
            max_leaf_nodes=cfg.get("max_leaf_nodes", 15),
            min_samples_leaf=cfg.get("min_samples_leaf", 100),
            l2_regularization=cfg.get("l2_regularization", 1.0),
            early_stopping=cfg.get("early_stopping", True),
            n_iter_no_change=cfg.get("n_iter_no_change", 20),
            max_depth=cfg.get("max_depth"),
            categorical_features=[i < n_cat for i in range(Xe.shape[1])] if n_cat else None,
            random_state=seed,
        )
    else:
        clf = DecisionTreeClassifier(
            max_depth=cfg.get("max_depth", 5),
            min_samples_leaf=cfg.get("min_samples_leaf", 100),
            class_weight=cfg.get("class_weight"),
            random_state=seed,
        )
    # Missing and unseen categories encode to -1: HGB treats negative category codes as missing.
    use_val = name in BOOSTED and clf.early_stopping and y_val is not None and len(np.unique(y_val)) == 2
    if use_val and X_val is not None:
        clf.fit(
            Xe,
            y,
            sample_weight=sample_weight,
            X_val=pre.transform(X_val[spec.names]).astype(float),
            y_val=np.asarray(y_val, dtype=int),
            sample_weight_val=sample_weight_val,
        )
    else:
        clf.fit(Xe, y, sample_weight=sample_weight)
    model = TreeModel(
        name=name,
        spec=spec,
        pre=pre,
        clf=clf,
        params=cfg,
        encoded_names=[str(c) for c in pre.get_feature_names_out()],
    )
    return model


def _weights(w: np.ndarray | None) -> np.ndarray | None:
    """None for an unsampled slice (all weights 1): the estimators then run exactly as unweighted."""
    if w is None:
        return None
    w = np.asarray(w, dtype=float)
    return None if np.all(w == 1.0) else w


def fit_candidate(
    name: str,
    X_fit: pd.DataFrame,
    y_fit: np.ndarray,
    X_cal: pd.DataFrame,
    y_cal: np.ndarray,
    spec: FeatureSpec,
    model_cfg: dict[str, Any],
    scaling: dict[str, Any],
    w_fit: np.ndarray | None = None,
    w_cal: np.ndarray | None = None,
) -> CreditModel:
    """Fit one candidate on the fitting slice and calibrate it on the calibration slice.

    `w_fit` / `w_cal` are the sample weights of a sampled training set (1 / sampling rate per row), so
    the fit, the early stopping and the calibration target the whole population, not the sample.
    """
    cfg = model_cfg["candidates"][name]
    y_fit, y_cal = np.asarray(y_fit, dtype=int), np.asarray(y_cal, dtype=int)
    w_fit, w_cal = _weights(w_fit), _weights(w_cal)
    if name == "scorecard":
        model = fit_scorecard(X_fit, y_fit, spec, cfg, scaling, sample_weight=w_fit)
        model.calibrate(X_cal, y_cal, w_cal)
        model.finish(X_fit)
        return model
    if name == "logistic":
        from ml.logistic import fit_logistic

        return fit_logistic(X_fit, y_fit, spec, cfg, X_cal, y_cal, w_fit, w_cal).calibrate(
            X_cal, y_cal, w_cal
        )
    if name in ("decision_tree", *BOOSTED):
        return fit_tree(
            name,
            X_fit,
            y_fit,
            spec,
            cfg,
            X_val=X_cal,
            y_val=y_cal,
            sample_weight=w_fit,
            sample_weight_val=w_cal,
        ).calibrate(X_cal, y_cal, w_cal)
    raise ValueError(f"unknown candidate {name!r}; known: {CANDIDATES}")
