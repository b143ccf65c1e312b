"""Credit limit policy and credit decisions, read from config/limits.yml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.config import load_config
from ml.scale import MasterScale, load_master_scale
from ratings.columns import numeric_column


@dataclass(frozen=True)
class LimitPolicy:
    """The limit policy and decision thresholds (see docs/ratings.md)."""

    months_of_sales: dict[str, float]
    cover_exposure_grades: frozenset[str]
    exposure_buffer: float
    min_limit: float
    max_limit: float
    max_increase_pct: float
    new_customer_max: float
    rounding_step: float
    hold_grades: frozenset[str]
    hold_dpd: float
    reduce_tolerance: float
    review_segments: frozenset[str]
    review_utilisation: float


def load_limit_policy(config: dict[str, Any] | None = None, scale: MasterScale | None = None) -> LimitPolicy:
    """The policy from config, validated against the master scale."""
    config = config or load_config("limits")
    scale = scale or load_master_scale()
    grades = {g.grade for g in scale.grades}
    months = {str(k): float(v) for k, v in config["months_of_sales"].items()}
    if set(months) != grades:
        raise ValueError(
            f"limits.yml: months_of_sales must list each grade of the master scale: {sorted(grades)}"
        )
    if any(v < 0 for v in months.values()):
        raise ValueError("limits.yml: months_of_sales must not be negative")
    caps, decisions = config["caps"], config["decisions"]
    policy = LimitPolicy(
        months_of_sales=months,
        cover_exposure_grades=frozenset(config.get("cover_exposure_grades", [])),
        exposure_buffer=float(config.get("exposure_buffer", 1.0)),
        min_limit=float(caps["min_limit"]),
        max_limit=float(caps["max_limit"]),
        max_increase_pct=float(caps["max_increase_pct"]),
        new_customer_max=float(caps["new_customer_max"]),
        rounding_step=float(config["rounding"]["step"]),
        hold_grades=frozenset(decisions["hold_grades"]),
        hold_dpd=float(decisions["hold_dpd"]),
        reduce_tolerance=float(decisions["reduce_tolerance"]),
        review_segments=frozenset(decisions["review_segments"]),
        review_utilisation=float(decisions["review_utilisation"]),
    )
    unknown = (policy.cover_exposure_grades | policy.hold_grades) - grades
    if unknown:
        raise ValueError(f"limits.yml: names grades not on the master scale: {sorted(unknown)}")
    if policy.rounding_step <= 0 or policy.min_limit > policy.max_limit:
        raise ValueError("limits.yml: rounding step must be positive and min_limit <= max_limit")
    return policy


def recommended_limits(frame: pd.DataFrame, policy: LimitPolicy) -> np.ndarray:
    """Recommended limit per row from rating_grade, invoice_amount_12m, open_receivables, credit_limit."""
    grade = frame["rating_grade"].to_numpy(dtype=object)
    monthly_sales = np.nan_to_num(np.clip(numeric_column(frame, "invoice_amount_12m"), 0, None)) / 12.0
    exposure = np.nan_to_num(np.clip(numeric_column(frame, "open_receivables"), 0, None))
    current = numeric_column(frame, "credit_limit")
    months = pd.Series(grade).map(policy.months_of_sales).to_numpy(dtype=float)
    limit = months * monthly_sales
    covers = np.isin(grade, list(policy.cover_exposure_grades))
    limit = np.where(covers, np.maximum(limit, exposure * policy.exposure_buffer), limit)
    has_current = ~np.isnan(current)
    increase_cap = np.where(
        has_current, np.nan_to_num(current) * (1 + policy.max_increase_pct), policy.new_customer_max
    )
    # The increase cap never forces a cut below today's limit: capping only limits growth.
    increase_cap = np.maximum(increase_cap, np.where(has_current, np.nan_to_num(current), 0.0))
    limit = np.minimum(limit, increase_cap)
    limit = np.where(months == 0, 0.0, limit)
    limit = np.clip(limit, policy.min_limit, policy.max_limit)
    return np.floor(limit / policy.rounding_step) * policy.rounding_step


def _money(value: float) -> str:
    return f"{value:,.0f}"


def decide(frame: pd.DataFrame, policy: LimitPolicy) -> tuple[np.ndarray, np.ndarray]:
    """Decision and a short rationale per row.

    Needs rating_grade, risk_segment, recommended_credit_limit, credit_limit, dpd_current,
    limit_utilisation. Rules are checked in order: hold, reduce, review, approve.
    """
    grade = frame["rating_grade"].to_numpy(dtype=object)
    segment = frame["risk_segment"].to_numpy(dtype=object)
    recommended = numeric_column(frame, "recommended_credit_limit")
    current = numeric_column(frame, "credit_limit")
    dpd = np.nan_to_num(numeric_column(frame, "dpd_current"))
    util = numeric_column(frame, "limit_utilisation")

    hold_grade = np.isin(grade, list(policy.hold_grades))
    hold_dpd = dpd > policy.hold_dpd
    reduce = ~np.isnan(current) & (recommended < current * (1 - policy.reduce_tolerance))
    review_segment = np.isin(segment, list(policy.review_segments))
    review_util = np.nan_to_num(util) > policy.review_utilisation

    decision = np.select(
        [hold_grade | hold_dpd, reduce, review_segment | review_util],
        ["hold", "reduce", "review"],
        default="approve",
    ).astype(object)

    rationale = np.empty(len(frame), dtype=object)
    for i in range(len(frame)):
        rec = _money(recommended[i])
        cur = "none" if np.isnan(current[i]) else _money(current[i])
        if decision[i] == "hold":
            why = f"grade {grade[i]} (default)" if hold_grade[i] else f"{dpd[i]:.0f} days past due"
            rationale[i] = f"Hold: {why}; no new credit, recommended limit {rec}"
        elif decision[i] == "reduce":
            rationale[i] = f"Reduce: grade {grade[i]} supports {rec}, current limit {cur}"
        elif decision[i] == "review":
            why = f"{segment[i]} risk segment" if review_segment[i] else f"limit utilisation {util[i]:.0%}"
            rationale[i] = f"Review: {why}; grade {grade[i]}, recommended {rec}, current {cur}"
        else:
            rationale[i] = f"Approve: grade {grade[i]}, recommended {rec}, current {cur}"
    return decision, rationale
