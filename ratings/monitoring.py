"""Model monitoring per rated date: stability of the performing grades, defaults, back-test by grade.

Grade D is not a grade the model assigns from a PD: it is the state of customers already in default,
and the training reference holds performing grades only. So the PSI compares performing grades on
both sides, and the default share and the count of new defaults are reported in their own columns.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import psycopg2.extensions

from common.config import load_config
from common.warehouse import one_row
from ml.evaluate import jeffreys_test, psi
from ratings.queries import queries


def grade_shares(counts: dict[str, int]) -> dict[str, float]:
    """Share of the rated rows per grade, from the rows per grade (grades in name order)."""
    total = sum(counts.values())
    return {g: (n / total if total else 0.0) for g, n in sorted(counts.items())}


def performing_shares(counts: dict[str, int], default_grades: set[str]) -> dict[str, float]:
    """Shares among the performing grades only (the population the PSI compares with training)."""
    return grade_shares({g: n for g, n in counts.items() if g not in default_grades})


def backtest_alpha() -> float:
    """The significance level of the per-grade Jeffreys test (config/model.yml monitoring.backtest_alpha)."""
    return float((load_config("model").get("monitoring") or {}).get("backtest_alpha", 0.05))


def backtest(
    cur: psycopg2.extensions.cursor,
    cohort: date,
    grade_order: list[str],
    default_grades: list[str],
    alpha: float,
) -> dict[str, Any] | None:
    """PD against the realised default rate per performing grade of one matured rated date.

    Each grade carries a Jeffreys test (ml.evaluate.jeffreys_test): verdict `underestimates` when the
    grade's mean PD lies below its realised default rate beyond chance. None when no row matched.
    """
    cur.execute(queries("monitoring")["backtest"], {"c": cohort, "default_grades": default_grades})
    rows = cur.fetchall()
    if not rows:
        return None
    rank = {g: i for i, g in enumerate(grade_order)}
    rows.sort(key=lambda r: rank.get(r[0], len(rank)))
    grades: dict[str, dict[str, Any]] = {}
    for g, n, d, pd_, _ in rows:
        defaults, mean_pd = int(d or 0), float(pd_)
        test = jeffreys_test(defaults, int(n), mean_pd, alpha)
        grades[g] = {
            "customers": int(n),
            "defaults": defaults,
            "default_rate": defaults / int(n),
            "mean_pd": mean_pd,
            "p_value": test["p_value"],
            "interval": test["interval"],
            "verdict": test["verdict"],
        }
    customers = sum(v["customers"] for v in grades.values())
    defaults = sum(v["defaults"] for v in grades.values())
    return {
        "cohort_date": cohort.isoformat(),
        "horizon_end_date": max(r[4] for r in rows).isoformat(),
        "customers": customers,
        "defaults": defaults,
        "default_rate": defaults / customers if customers else None,
        "alpha": alpha,
        "grades_underestimated": sorted(g for g, v in grades.items() if v["verdict"] == "underestimates"),
        "grades": grades,
    }


def write_monitoring(
    cur: psycopg2.extensions.cursor,
    *,
    as_of_date: date,
    model_name: str,
    model_version: str,
    run_id: str,
    scale_version: str,
    grade_counts: dict[str, int],
    default_grades: set[str],
    train_distribution: dict[str, float] | None,
) -> dict[str, Any]:
    """Replace the model_monitoring row of as_of_date (inside the publishing transaction, after the
    versions of as_of_date are written: the new defaults are read from them)."""
    distribution = grade_shares(grade_counts)
    performing = performing_shares(grade_counts, default_grades)
    train = {g: s for g, s in (train_distribution or {}).items() if g not in default_grades}
    value = psi(train, performing) if train and performing else None
    rows = sum(grade_counts.values())
    defaults = sum(n for g, n in grade_counts.items() if g in default_grades)
    sql = queries("monitoring")
    cur.execute(sql["new_defaults"], {"d": as_of_date, "grades": sorted(default_grades)})
    new_defaults = one_row(cur)[0]
    figures = {
        "psi": value,
        "default_share": defaults / rows if rows else None,
        "defaults_rated": defaults,
        "new_defaults": None if new_defaults is None else int(new_defaults),
    }
    cur.execute(
        sql["replace_row"],
        {
            "d": as_of_date,
            "model_name": model_name,
            "model_version": model_version,
            "rows": rows,
            "distribution": json.dumps(distribution),
            "run": run_id,
            "scale_version": scale_version,
        }
        | figures,
    )
    return {"grade_distribution": distribution} | figures


def update_backtests(
    cur: psycopg2.extensions.cursor, as_of_date: date, grade_order: list[str], default_grades: set[str]
) -> list[str]:
    """Fill the back-test of every rated date up to as_of_date whose horizon has matured; returns
    the dates filled (ISO). A back-test, once filled, stays: a matured label does not change."""
    sql = queries("monitoring")
    cur.execute(sql["labels_exist"])
    if not one_row(cur)[0]:
        return []
    cur.execute(sql["matured_cohorts"], {"d": as_of_date})
    cohorts = [r[0] for r in cur.fetchall()]
    alpha = backtest_alpha()
    filled = []
    for cohort in cohorts:
        result = backtest(cur, cohort, grade_order, sorted(default_grades), alpha)
        if result is not None:
            cur.execute(sql["set_backtest"], {"backtest": json.dumps(result), "c": cohort})
            filled.append(cohort.isoformat())
    return filled


DECISIONS = ("approve", "review", "reduce", "hold")


def decision_mix(cur: psycopg2.extensions.cursor, as_of_date: date) -> dict[str, dict[str, int]]:
    """Customers per grade (best first) and decision on a rated date: {grade: {decision: n}}."""
    cur.execute(queries("monitoring")["decision_mix"], {"as_of_date": as_of_date})
    mix: dict[str, dict[str, int]] = {}
    for grade, decision, customers in cur.fetchall():
        mix.setdefault(grade, {})[decision] = int(customers)
    return mix


def format_decision_mix(mix: dict[str, dict[str, int]]) -> list[str]:
    """The decision mix as a table: one line per grade, then the totals with their shares."""
    totals = {d: sum(row.get(d, 0) for row in mix.values()) for d in DECISIONS}
    rated = sum(totals.values())
    lines = [f"  {'grade':<5}" + "".join(f"{d:>9}" for d in DECISIONS)]
    lines += [f"  {g:<5}" + "".join(f"{row.get(d, 0):>9,}" for d in DECISIONS) for g, row in mix.items()]
    lines.append(f"  {'all':<5}" + "".join(f"{totals[d]:>9,}" for d in DECISIONS))
    lines.append(f"  {'share':<5}" + "".join(f"{totals[d] / max(rated, 1):>9.1%}" for d in DECISIONS))
    return lines


STABLE_PSI = 0.10  # below: stable; 0.10-0.25: some shift; above: material (docs/bi.md)


def monitoring_summary(cur: psycopg2.extensions.cursor, as_of_date: date) -> tuple[Any, ...] | None:
    """(psi, default_share, new_defaults, latest matured back-test) of a rated date, None if not rated."""
    cur.execute(queries("monitoring")["monitoring_summary"], {"as_of_date": as_of_date})
    return cur.fetchone()


def format_monitoring(row: tuple[Any, ...] | None, horizon_months: int) -> list[str]:
    """The monitoring of a rated date in words: PSI with its reading, defaults, and the latest back-test."""
    if row is None:
        return ["  no monitoring row for this date (not rated)"]
    psi, default_share, new_defaults, latest = row
    if psi is None:
        reading = "no PSI (the champion records no training grade distribution)"
    else:
        shift = "stable" if psi < STABLE_PSI else "some shift" if psi < 0.25 else "material shift"
        reading = f"PSI {psi:.3f} against training, performing grades ({shift})"
    share = "n/a" if default_share is None else f"{default_share:.1%}"
    new = "n/a on a first rated date" if new_defaults is None else f"{new_defaults:,}"
    lines = [f"  {reading}", f"  rated in default (D): {share}; new defaults today: {new}"]
    if not latest:
        lines.append(
            f"  back-test: no rated date has matured yet (each matures {horizon_months} months after it is rated)"
        )
        return lines
    backtest = latest if isinstance(latest, dict) else json.loads(latest)
    lines.append(
        f"  back-test of {backtest['cohort_date']} (matured {backtest['horizon_end_date']}): "
        f"{backtest['defaults']:,} defaults in {backtest['customers']:,} customers"
    )
    lines += [
        f"    {grade:<4} PD {g['mean_pd']:.2%} vs realised {g['default_rate']:.2%} ({g['customers']:,}): {g['verdict']}"
        for grade, g in backtest["grades"].items()
    ]
    return lines
