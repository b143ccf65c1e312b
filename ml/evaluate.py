"""Honest evaluation of a PD model: discrimination, calibration, stability, plots and a model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from ml.scale import MasterScale

PSI_FLOOR = 1e-4  # share of a bucket empty on one side, so PSI stays finite


def ks_statistic(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Maximum distance between the cumulative PD distributions of defaulters and non-defaulters."""
    fpr, tpr, _ = roc_curve(y, p, sample_weight=weights)
    return float(np.max(tpr - fpr))


def discrimination(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """auc, gini, ks, brier, plus the observed and mean predicted default rates.

    `weights` are the sample weights of a sampled slice: every figure then estimates the population's
    (`rows` stays the number of rows evaluated).
    """
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float)
    auc = float(roc_auc_score(y, p, sample_weight=w)) if len(np.unique(y)) == 2 else float("nan")
    default_rate, mean_pd = float(np.average(y, weights=w)), float(np.average(p, weights=w))
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y, p, w) if len(np.unique(y)) == 2 else float("nan"),
        "brier": float(brier_score_loss(y, p, sample_weight=w)),
        "default_rate": default_rate,
        "mean_pd": mean_pd,
        "calibration_ratio": mean_pd / default_rate if default_rate > 0 else float("nan"),
        "rows": int(len(y)),
    }


def grade_distribution(
    pd_: np.ndarray, scale: MasterScale, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Share of rows (weighted by the sample weights when given) per performing grade (every grade
    present, zeros included), best grade first."""
    grades = pd.Series(scale.grade_for_pd(np.asarray(pd_, dtype=float)))
    if weights is None:
        shares = grades.value_counts(normalize=True)
    else:
        totals = pd.Series(np.asarray(weights, dtype=float)).groupby(grades.to_numpy()).sum()
        shares = totals / totals.sum()
    return {g.grade: float(shares.get(g.grade, 0.0)) for g in scale.performing}


def psi(expected: dict[str, float], actual: dict[str, float], floor: float = PSI_FLOOR) -> float:
    """Population stability index of `actual` against `expected`, two {bucket: share} distributions.

    A bucket empty on one side counts with the floor share, then each side is renormalised to sum to 1.
    The one PSI: the promotion gate (train -> holdout) and daily monitoring (training -> rated date).
    Rule of thumb: < 0.10 stable, 0.10-0.25 some shift, > 0.25 a material shift.
    """
    keys = sorted(set(expected) | set(actual))
    e = np.array([max(float(expected.get(k, 0.0)), floor) for k in keys])
    a = np.array([max(float(actual.get(k, 0.0)), floor) for k in keys])
    a, e = a / a.sum(), e / e.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def calibration_by_grade(
    y: np.ndarray, pd_: np.ndarray, scale: MasterScale, weights: np.ndarray | None = None
) -> pd.DataFrame:
    """Expected (mean PD) vs observed default rate per grade (weighted means when weights are given;
    rows and defaults are the rows evaluated)."""
    w = np.ones(len(pd_)) if weights is None else np.asarray(weights, dtype=float)
    y = np.asarray(y, dtype=float)
    frame = pd.DataFrame(
        {
            "grade": scale.grade_for_pd(np.asarray(pd_, dtype=float)),
            "y": y,
            "w": w,
            "wy": w * y,
            "wpd": w * np.asarray(pd_, dtype=float),
        }
    )
    sums = frame.groupby("grade", sort=False).agg(
        rows=("y", "size"), w=("w", "sum"), wpd=("wpd", "sum"), wy=("wy", "sum"), defaults=("y", "sum")
    )
    out = pd.DataFrame(
        {
            "rows": sums["rows"],
            "expected": sums["wpd"] / sums["w"],
            "observed": sums["wy"] / sums["w"],
            "defaults": sums["defaults"].astype(int),
        }
    )
    order = [g.grade for g in scale.performing]
    return out.reindex([g for g in order if g in out.index]).reset_index()


def jeffreys_test(defaults: int, n: int, mean_pd: float, alpha: float = 0.05) -> dict[str, Any]:
    """Jeffreys test of one grade's PD against its realised defaults (the test the ECB's validation
    reporting uses for PD back-testing).

    With a Beta(1/2, 1/2) prior the default rate's posterior is Beta(d + 1/2, n - d + 1/2). ``p_value``
    is that posterior's mass at or below ``mean_pd``: a small value says the PD understates the risk
    (the conservative, one-sided test a gate refuses on); ``interval`` is the two-sided (1 - alpha)
    credible interval of the default rate. ``verdict`` is ``underestimates`` when p < alpha,
    ``overestimates`` when p > 1 - alpha, else ``ok``.
    """
    from scipy.stats import beta

    if n <= 0:
        raise ValueError("jeffreys_test needs at least one observation")
    if not 0 <= defaults <= n:
        raise ValueError(f"defaults={defaults} must lie in [0, n={n}]")
    a, b = defaults + 0.5, n - defaults + 0.5
    p_value = float(beta.cdf(mean_pd, a, b))
    verdict = "underestimates" if p_value < alpha else "overestimates" if p_value > 1 - alpha else "ok"
    return {
        "n": int(n),
        "defaults": int(defaults),
        "observed": defaults / n,
        "mean_pd": float(mean_pd),
        "p_value": p_value,
        "interval": [float(beta.ppf(alpha / 2, a, b)), float(beta.ppf(1 - alpha / 2, a, b))],
        "alpha": alpha,
        "verdict": verdict,
    }


def information_values(
    X: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str],
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """IV per feature from optbinning's optimal bins (the same binning the scorecard uses), weighted by
    the sample weights when given."""
    from optbinning import BinningProcess

    numeric = [c for c in numeric if X[c].nunique(dropna=True) >= 2]
    categorical = [c for c in categorical if X[c].nunique(dropna=True) >= 2]
    process = BinningProcess([*numeric, *categorical], categorical_variables=categorical)
    process.fit(X[[*numeric, *categorical]], np.asarray(y, dtype=int), sample_weight=weights)
    summary = process.summary()
    return {str(r["name"]): float(r["iv"]) for _, r in summary.iterrows()}


def evaluate(
    y_train: np.ndarray,
    pd_train: np.ndarray,
    y_hold: np.ndarray,
    pd_hold: np.ndarray,
    scale: MasterScale,
    w_train: np.ndarray | None = None,
    w_hold: np.ndarray | None = None,
) -> dict[str, Any]:
    """Holdout metrics, train metrics, PSI train -> holdout of the grade mix, calibration by grade.

    `w_train` / `w_hold`: sample weights of sampled slices (population estimates, incl. the grade mix
    that monitoring compares against)."""
    hold, train = discrimination(y_hold, pd_hold, w_hold), discrimination(y_train, pd_train, w_train)
    train_dist, hold_dist = (
        grade_distribution(pd_train, scale, w_train),
        grade_distribution(pd_hold, scale, w_hold),
    )
    return {
        "holdout": hold,
        "train": train,
        "psi": psi(train_dist, hold_dist),
        "train_grade_distribution": train_dist,
        "holdout_grade_distribution": hold_dist,
        "calibration": calibration_by_grade(np.asarray(y_hold), np.asarray(pd_hold), scale, w_hold),
    }


def flat_metrics(result: dict[str, Any]) -> dict[str, float]:
    """MLflow metrics: holdout_* and train_* plus psi."""
    out = {f"holdout_{k}": v for k, v in result["holdout"].items() if np.isfinite(v)}
    out.update({f"train_{k}": v for k, v in result["train"].items() if np.isfinite(v)})
    out["psi"] = result["psi"]
    return out


def save_plots(
    folder: Path,
    y: np.ndarray,
    p: np.ndarray,
    score_train: np.ndarray,
    score_hold: np.ndarray,
    calibration: pd.DataFrame,
    title: str,
) -> list[Path]:
    """ROC, KS, calibration-by-grade and score-distribution PNGs (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)

    fig, ax = plt.subplots(figsize=(5, 5))
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, p):.3f}")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC (holdout) - {title}")
    ax.legend(loc="lower right")
    paths.append(_save(fig, folder / "roc.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    grid = np.sort(np.unique(p))
    bad = np.searchsorted(np.sort(p[y == 1]), grid, side="right") / max((y == 1).sum(), 1)
    good = np.searchsorted(np.sort(p[y == 0]), grid, side="right") / max((y == 0).sum(), 1)
    ax.plot(grid, good, label="non-defaulters")
    ax.plot(grid, bad, label="defaulters")
    ax.set(
        xscale="log",
        xlabel="PD",
        ylabel="cumulative share",
        title=f"KS {np.max(np.abs(good - bad)):.3f} - {title}",
    )
    ax.legend()
    paths.append(_save(fig, folder / "ks.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(len(calibration))
    ax.bar(x - 0.2, calibration["expected"], 0.4, label="expected (mean PD)")
    ax.bar(x + 0.2, calibration["observed"], 0.4, label="observed default rate")
    ax.set_xticks(x, calibration["grade"])
    ax.set(ylabel="12-month default rate", title=f"Calibration by grade (holdout) - {title}")
    ax.legend()
    paths.append(_save(fig, folder / "calibration.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(min(score_train.min(), score_hold.min()), max(score_train.max(), score_hold.max()), 40)
    ax.hist(score_train, bins=bins.tolist(), density=True, alpha=0.5, label="train")
    ax.hist(score_hold, bins=bins.tolist(), density=True, alpha=0.5, label="holdout")
    ax.set(xlabel="score", ylabel="density", title=f"Score distribution - {title}")
    ax.legend()
    paths.append(_save(fig, folder / "score_distribution.png"))
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def model_card(
    *,
    name: str,
    candidate: str,
    window: dict[str, str],
    features: list[str],
    result: dict[str, Any],
    ivs: dict[str, float],
    comparison: dict[str, dict[str, float]],
    snapshot_hash: str,
    code_version: str,
    scorecard_table: pd.DataFrame | None = None,
    sampling: dict[str, dict[str, Any]] | None = None,
) -> str:
    """Markdown model card of one trained version."""
    hold, train = result["holdout"], result["train"]
    lines = [
        f"# Model card: {name} ({candidate})",
        "",
        "## Purpose",
        "12-month probability of default (PD) of a trade customer, mapped to the master scale grade and a",
        "PDO score, with the top 4 reason codes. Rows already in default are rated D by rule, not by the model.",
        "",
        "## Data",
        f"- fitting snapshots: {window.get('fit')}; calibration: {window.get('calibration')}; "
        f"out-of-time holdout: {window.get('holdout')}",
        f"- training rows: {train['rows']} (default rate {train['default_rate']:.2%}); "
        f"holdout rows: {hold['rows']} (default rate {hold['default_rate']:.2%})",
        f"- snapshot hash: `{snapshot_hash}`; code version: `{code_version}`",
        *_sampling_lines(sampling),
        "",
        "## Features",
        ", ".join(f"`{f}`" for f in features),
        "",
        "## Metrics (out-of-time holdout)",
        "| metric | holdout | train |",
        "|---|---|---|",
    ]
    for key in ("auc", "gini", "ks", "brier", "mean_pd", "default_rate", "calibration_ratio"):
        lines.append(f"| {key} | {hold[key]:.4f} | {train[key]:.4f} |")
    lines += [
        f"| psi (grade mix, train -> holdout) | {result['psi']:.4f} | |",
        "",
        "## Candidates (holdout)",
        "| candidate | auc | ks | brier |",
        "|---|---|---|---|",
    ]
    for cand, m in comparison.items():
        lines.append(f"| {cand} | {m['auc']:.4f} | {m['ks']:.4f} | {m['brier']:.5f} |")
    lines += [
        "",
        "## Calibration by grade (holdout)",
        result["calibration"].to_markdown(index=False, floatfmt=".4f"),
        "",
        "## Information value per feature (fitting slice)",
        "| feature | IV |",
        "|---|---|",
    ]
    for f, v in sorted(ivs.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {f} | {v:.4f} |")
    if scorecard_table is not None:
        lines += ["", "## Scorecard points", scorecard_table.to_markdown(index=False, floatfmt=".4f")]
    lines += [
        "",
        "## Limitations",
        "- Trained on the customers and the period above; the holdout is the latest labelled snapshots, so",
        "  labels of late training snapshots overlap the holdout period in calendar time.",
        "- Monthly snapshots of one customer are correlated: effective sample size is below the row count.",
        "- Defaults are rare: grade-level calibration of the best and worst grades rests on few defaults.",
        "- Reason codes explain this model's view, not causes; they are not adverse-action notices.",
        "- Monitor the grade mix against `train_grade_distribution` (PSI) and recalibrate when it drifts.",
    ]
    return "\n".join(lines) + "\n"


def _sampling_lines(sampling: dict[str, dict[str, Any]] | None) -> list[str]:
    """Model card lines on the training sample (config/model.yml `sample`)."""
    if not sampling:
        return []
    lines = [
        "- sample (customer-hash sample per slice, sample weights = 1 / rate; metrics above are weighted):"
    ]
    for name, s in sampling.items():
        lines.append(
            f"  - {name}: {s.get('rows_used', '?')} of {s['rows_available']} rows; defaults kept at rate "
            f"{s['default_rate']:.4f}, non-defaults at {s['non_default_rate']:.4f}"
        )
    return lines


def to_json(obj: Any) -> str:
    return json.dumps(
        obj, default=lambda o: o.to_dict(orient="records") if isinstance(o, pd.DataFrame) else str(o)
    )
