"""Model monitoring per rated date: grade distribution, PSI against training, back-test of cohorts."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import psycopg2.extensions

from common.warehouse import one_row
from ml.evaluate import psi
from ratings.queries import queries


def grade_shares(counts: dict[str, int]) -> dict[str, float]:
    """Share of the rated rows per grade, from the rows per grade (grades in name order)."""
    total = sum(counts.values())
    return {g: (n / total if total else 0.0) for g, n in sorted(counts.items())}


def backtest(
    cur: psycopg2.extensions.cursor, as_of_date: date, grade_order: list[str]
) -> dict[str, Any] | None:
    """Realised default rate per grade for the latest matured cohort rated on or before as_of_date.

    A cohort is a rated date whose labels exist in marts.customer_default_labels (its horizon has
    passed). None when the labels table is missing or no rated cohort has matured yet.
    """
    sql = queries("monitoring")
    cur.execute(sql["labels_exist"])
    if not one_row(cur)[0]:
        return None
    cur.execute(sql["latest_cohort"], {"d": as_of_date})
    cohort = one_row(cur)[0]
    if cohort is None:
        return None
    cur.execute(sql["backtest"], {"c": cohort})
    rows = cur.fetchall()
    if not rows:
        return None
    rank = {g: i for i, g in enumerate(grade_order)}
    rows.sort(key=lambda r: rank.get(r[0], len(rank)))
    grades: dict[str, dict[str, Any]] = {
        g: {
            "customers": int(n),
            "defaults": int(d or 0),
            "default_rate": (int(d or 0) / int(n)) if n else None,
            "mean_pd": float(pd_) if pd_ is not None else None,
        }
        for g, n, d, pd_, _ in rows
    }
    customers = sum(v["customers"] for v in grades.values())
    defaults = sum(v["defaults"] for v in grades.values())
    return {
        "cohort_date": cohort.isoformat(),
        "horizon_end_date": max(r[4] for r in rows).isoformat() if rows[0][4] is not None else None,
        "customers": customers,
        "defaults": defaults,
        "default_rate": defaults / customers if customers else None,
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
    train_distribution: dict[str, float] | None,
) -> dict[str, Any]:
    """Replace the model_monitoring row of as_of_date (inside the publishing transaction)."""
    distribution = grade_shares(grade_counts)
    value = psi(train_distribution, distribution) if train_distribution else None
    cur.execute(
        queries("monitoring")["replace_row"],
        {
            "d": as_of_date,
            "model_name": model_name,
            "model_version": model_version,
            "rows": sum(grade_counts.values()),
            "distribution": json.dumps(distribution),
            "psi": value,
            "run": run_id,
            "scale_version": scale_version,
        },
    )
    return {"grade_distribution": distribution, "psi": value}


def update_backtest(cur: psycopg2.extensions.cursor, as_of_date: date, grade_order: list[str]) -> dict | None:
    """Fill the back-test of as_of_date's monitoring row (after its ratings are written)."""
    result = backtest(cur, as_of_date, grade_order)
    backtest_json = json.dumps(result) if result is not None else None
    cur.execute(queries("monitoring")["set_backtest"], {"backtest": backtest_json, "d": as_of_date})
    return result
