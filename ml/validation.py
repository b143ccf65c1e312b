"""The validation report of a model version: what a model-risk reviewer reads before signing it off.

Five parts, each on the version's own out-of-time split (config/model.yml `validation`):
1. discrimination (AUC, Gini, KS) on the fitting, calibration and out-of-time slices;
2. calibration by grade on the out-of-time slice, with a Jeffreys test per grade;
3. stability: PSI of the grade mix and, per feature, the characteristic stability index (CSI: the PSI of
   the feature's own bins) from the fitting slice to the out-of-time slice;
4. concentration: the share of each grade, against a configured maximum;
5. grade stability: how customers' grades moved between the last two snapshot dates.
The report is a dict (logged as validation.json) and a markdown page (validation_report.md, also a
section of the model card). `grade_calibration_tests` is shared with the promotion gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ml.evaluate import discrimination, grade_distribution, jeffreys_test, psi
from ml.scale import MasterScale

MATERIAL_SHIFT = 0.25  # PSI rule of thumb: above this a distribution has materially moved


def grade_calibration_tests(
    y: np.ndarray,
    pd_: np.ndarray,
    grades: np.ndarray,
    scale: MasterScale,
    alpha: float,
    min_observations: int = 1,
) -> list[dict[str, Any]]:
    """Per performing grade present, best first: rows, defaults, mean PD and the Jeffreys test.

    `judged` is False for a grade with fewer than `min_observations` rows (reported, not tested).
    Grades the scale does not know (a version rated with an older scale) come last, in name order.
    """
    frame = pd.DataFrame(
        {"grade": np.asarray(grades, dtype=object), "y": np.asarray(y, dtype=int), "pd": pd_}
    )
    frame = frame[~frame["grade"].isin([g.grade for g in scale.grades if g.is_default])]
    rank = {g.grade: i for i, g in enumerate(scale.grades)}
    out = []
    for grade in sorted(frame["grade"].unique(), key=lambda g: (rank.get(g, len(rank)), str(g))):
        rows = frame[frame["grade"] == grade]
        test = jeffreys_test(int(rows["y"].sum()), len(rows), float(rows["pd"].mean()), alpha)
        out.append({"grade": str(grade), **test, "judged": len(rows) >= min_observations})
    return out


def calibration_failures(tests: list[dict[str, Any]], refuse_overestimates: bool = False) -> list[str]:
    """One message per judged grade whose test fails, naming the grade and its figures."""
    out = []
    for t in tests:
        bad = t["verdict"] == "underestimates" or (refuse_overestimates and t["verdict"] == "overestimates")
        if not (t["judged"] and bad):
            continue
        side = "understates" if t["verdict"] == "underestimates" else "overstates"
        p = t["p_value"] if t["verdict"] == "underestimates" else 1 - t["p_value"]
        lo, hi = t["interval"]
        out.append(
            f"grade {t['grade']} fails calibration: {t['defaults']} defaults in {t['n']} rows "
            f"(observed {t['observed']:.2%}, {1 - t['alpha']:.0%} interval {lo:.2%}-{hi:.2%}) vs mean PD "
            f"{t['mean_pd']:.2%}; Jeffreys p = {p:.4g} < alpha {t['alpha']} (the PD {side} the risk)"
        )
    return out


def _bins(values: pd.Series, edges: np.ndarray | None) -> pd.Series:
    """Bucket labels of a feature: quantile intervals for numerics, levels for categoricals, 'missing'."""
    if edges is None:
        return values.astype(object).where(values.notna(), "missing").astype(str)
    idx = np.searchsorted(edges, values.to_numpy(dtype=float), side="right")
    return pd.Series(np.where(values.isna(), "missing", idx.astype(str)), index=values.index)


def _shares(labels: pd.Series, weights: np.ndarray | None) -> dict[str, float]:
    w = pd.Series(np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float))
    totals = w.groupby(labels.to_numpy()).sum()
    return {str(k): float(v) for k, v in (totals / totals.sum()).items()}


def characteristic_stability(
    base: pd.DataFrame,
    recent: pd.DataFrame,
    features: list[str],
    numeric: set[str],
    n_bins: int = 10,
    w_base: np.ndarray | None = None,
    w_recent: np.ndarray | None = None,
) -> dict[str, float]:
    """CSI per feature: the PSI of its quantile bins (edges from `base`) or levels, base -> recent."""
    out = {}
    for name in features:
        edges = None
        if name in numeric:
            observed = base[name].dropna().to_numpy(dtype=float)
            qs = np.quantile(observed, np.linspace(0, 1, n_bins + 1)[1:-1]) if observed.size else []
            edges = np.unique(qs)
        out[name] = psi(
            _shares(_bins(base[name], edges), w_base), _shares(_bins(recent[name], edges), w_recent)
        )
    return out


def grade_migration(keys: pd.DataFrame, grades: np.ndarray, scale: MasterScale) -> dict[str, Any] | None:
    """Grade moves of the customers rated on both of the last two snapshot dates of `keys`.

    `keys` holds customer_id and as_of_date per row of `grades`. None with fewer than two dates.
    """
    frame = keys[["customer_id", "as_of_date"]].assign(grade=np.asarray(grades))
    dates = sorted(frame["as_of_date"].unique())
    if len(dates) < 2:
        return None
    before, after = dates[-2], dates[-1]
    pair = frame[frame["as_of_date"] == before].merge(
        frame[frame["as_of_date"] == after], on="customer_id", suffixes=("_before", "_after")
    )
    if pair.empty:
        return None
    rank = {g.grade: i for i, g in enumerate(scale.grades)}
    notches = pair["grade_after"].map(rank) - pair["grade_before"].map(rank)
    matrix = pd.crosstab(pair["grade_before"], pair["grade_after"])
    order = [g.grade for g in scale.grades]
    matrix = matrix.reindex(
        index=[g for g in order if g in matrix.index], columns=[g for g in order if g in matrix.columns]
    )
    return {
        "from_date": pd.Timestamp(before).date().isoformat(),
        "to_date": pd.Timestamp(after).date().isoformat(),
        "customers": int(len(pair)),
        "same_grade": float((notches == 0).mean()),
        "within_one_notch": float((notches.abs() <= 1).mean()),
        "downgraded_two_or_more": float((notches >= 2).mean()),
        "upgraded_two_or_more": float((notches <= -2).mean()),
        "matrix": {str(b): {str(a): int(n) for a, n in row.items()} for b, row in matrix.iterrows()},
    }


def validation_report(
    *,
    slices: Mapping[str, tuple[Any, np.ndarray, np.ndarray | None]],
    features: dict[str, pd.DataFrame],
    keys_oot: pd.DataFrame,
    scale: MasterScale,
    cfg: dict[str, Any],
    numeric: set[str],
) -> dict[str, Any]:
    """The report's figures. `slices`: name -> (y, pd, weights) for fit, calibration, out_of_time;
    `features`: the model's input columns of the fit and out_of_time slices (for the CSI);
    `keys_oot`: customer_id and as_of_date of the out-of-time rows (for the grade migration)."""
    alpha, max_share = float(cfg.get("alpha", 0.05)), float(cfg.get("max_grade_share", 0.4))
    y_oot, pd_oot, w_oot = slices["out_of_time"]
    y_fit, pd_fit, w_fit = slices["fit"]
    grades_oot = scale.grade_for_pd(pd_oot)
    shares_fit, shares_oot = (
        grade_distribution(pd_fit, scale, w_fit),
        grade_distribution(pd_oot, scale, w_oot),
    )
    cols = list(features["fit"].columns)
    csi = characteristic_stability(
        features["fit"], features["out_of_time"], cols, numeric, int(cfg.get("psi_bins", 10)), w_fit, w_oot
    )
    concentration = {
        "max_grade_share": max_share,
        "shares_out_of_time": shares_oot,
        "shares_fit": shares_fit,
        "breaches": {g: s for g, s in shares_oot.items() if s > max_share},
        "herfindahl": float(sum(s * s for s in shares_oot.values())),
    }
    return {
        "discrimination": {
            name: {
                k: discrimination(y, p, w)[k]
                for k in ("auc", "gini", "ks", "default_rate", "mean_pd", "rows")
            }
            for name, (y, p, w) in slices.items()
        },
        "calibration_by_grade": grade_calibration_tests(y_oot, pd_oot, grades_oot, scale, alpha),
        "grade_psi": psi(shares_fit, shares_oot),
        "csi": dict(sorted(csi.items(), key=lambda kv: -kv[1])),
        "concentration": concentration,
        "grade_migration": grade_migration(keys_oot, grades_oot, scale),
        "settings": {
            "alpha": alpha,
            "max_grade_share": max_share,
            "warn_psi": cfg.get("stability_warn_psi", 0.1),
        },
    }


def findings(report: dict[str, Any]) -> list[str]:
    """The points a reviewer must look at: failed grade tests, shifted features, concentration."""
    out = calibration_failures(report["calibration_by_grade"], refuse_overestimates=True)
    warn = float(report["settings"]["warn_psi"])
    if report["grade_psi"] > warn:
        out.append(f"grade mix PSI fit -> out-of-time {report['grade_psi']:.3f} > {warn}")
    out += [f"feature {f}: CSI {v:.3f} > {warn}" for f, v in report["csi"].items() if v > warn]
    out += [
        f"grade {g} holds {s:.1%} of the out-of-time rows > maximum {report['concentration']['max_grade_share']:.0%}"
        for g, s in report["concentration"]["breaches"].items()
    ]
    return out


def _shift(value: float, warn: float) -> str:
    return "material shift" if value > MATERIAL_SHIFT else "some shift" if value > warn else "stable"


def report_markdown(report: dict[str, Any], title: str) -> str:
    """The report as a markdown page (model card section and MLflow artifact)."""
    warn = float(report["settings"]["warn_psi"])
    lines = [f"## Validation report: {title}", "", "### Findings"]
    found = findings(report)
    lines += [f"- {f}" for f in found] if found else ["- none: every test below passes"]
    lines += [
        "",
        "### Discrimination",
        "| slice | rows | AUC | Gini | KS | default rate | mean PD |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in report["discrimination"].items():
        lines.append(
            f"| {name} | {m['rows']} | {m['auc']:.4f} | {m['gini']:.4f} | {m['ks']:.4f} | "
            f"{m['default_rate']:.4f} | {m['mean_pd']:.4f} |"
        )
    alpha = report["settings"]["alpha"]
    lines += [
        "",
        f"### Calibration by grade (out-of-time, Jeffreys test, alpha {alpha})",
        "| grade | rows | defaults | observed | mean PD | interval | p (PD too low) | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in report["calibration_by_grade"]:
        lo, hi = t["interval"]
        lines.append(
            f"| {t['grade']} | {t['n']} | {t['defaults']} | {t['observed']:.4f} | {t['mean_pd']:.4f} | "
            f"{lo:.4f}-{hi:.4f} | {t['p_value']:.4f} | {t['verdict']} |"
        )
    lines += [
        "",
        "### Stability (fit -> out-of-time)",
        f"- grade mix PSI: {report['grade_psi']:.4f} ({_shift(report['grade_psi'], warn)})",
        "",
        "| feature | CSI | reading |",
        "|---|---|---|",
    ]
    lines += [f"| {f} | {v:.4f} | {_shift(v, warn)} |" for f, v in report["csi"].items()]
    c = report["concentration"]
    lines += [
        "",
        f"### Concentration (maximum share per grade {c['max_grade_share']:.0%}; Herfindahl {c['herfindahl']:.3f})",
        "| grade | share fit | share out-of-time |",
        "|---|---|---|",
    ]
    lines += [f"| {g} | {c['shares_fit'][g]:.4f} | {s:.4f} |" for g, s in c["shares_out_of_time"].items()]
    m = report["grade_migration"]
    lines += ["", "### Grade stability between the last two snapshots"]
    if m is None:
        lines.append("- fewer than two snapshot dates with common customers: not measured")
    else:
        lines += [
            f"- {m['customers']} customers rated on {m['from_date']} and {m['to_date']}: "
            f"{m['same_grade']:.1%} same grade, {m['within_one_notch']:.1%} within one notch, "
            f"{m['downgraded_two_or_more']:.1%} down and {m['upgraded_two_or_more']:.1%} up two notches or more",
        ]
    return "\n".join(lines) + "\n"
