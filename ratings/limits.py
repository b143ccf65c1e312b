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
    review_grades: frozenset[str]
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
        review_grades=frozenset(decisions.get("review_grades", [])),
        review_utilisation=float(decisions["review_utilisation"]),
    )
    unknown = (policy.cover_exposure_grades | policy.hold_grades | policy.review_grades) - grades
    if unknown:
        raise ValueError(f"limits.yml: names grades not on the master scale: {sorted(unknown)}")
    if policy.rounding_step <= 0 or policy.min_limit > policy.max_limit:
        raise ValueError("limits.yml: rounding step must be positive and min_limit <= max_limit")
    return policy


@dataclass(frozen=True)
class LimitBasis:
    """How each row's recommended limit was made (arrays, one value per row), for the rationale."""

    months: np.ndarray  # months of sales the grade allows
    monthly_sales: np.ndarray  # average monthly invoiced amount over the months traded (up to 12)
    sales_limit: np.ndarray  # months x monthly_sales
    exposure_floor: np.ndarray  # open receivables x exposure_buffer where the grade covers exposure, else 0
    cap: np.ndarray  # the increase cap, the new-customer cap or the house limit, whichever binds; NaN if none
    cap_kind: np.ndarray  # "increase", "new_customer", "house" or ""
    recommended: np.ndarray


def monthly_sales(frame: pd.DataFrame) -> np.ndarray:
    """invoice_amount_12m per month traded: a customer onboarded 4 months ago has 4 months of sales,
    not 12 (tenure_months, capped at 12; 12 when unknown)."""
    sales = np.nan_to_num(np.clip(numeric_column(frame, "invoice_amount_12m"), 0, None))
    tenure = numeric_column(frame, "tenure_months")
    months_traded = np.clip(np.where(np.isnan(tenure), 12.0, tenure), 1.0, 12.0)
    return sales / months_traded


def limit_basis(frame: pd.DataFrame, policy: LimitPolicy) -> LimitBasis:
    """Recommended limit per row from rating_grade, invoice_amount_12m, tenure_months, open_receivables
    and credit_limit, with the numbers that made it."""
    grade = frame["rating_grade"].to_numpy(dtype=object)
    sales = monthly_sales(frame)
    exposure = np.nan_to_num(np.clip(numeric_column(frame, "open_receivables"), 0, None))
    current = numeric_column(frame, "credit_limit")
    months = pd.Series(grade).map(policy.months_of_sales).to_numpy(dtype=float)
    sales_limit = months * sales
    covers = np.isin(grade, list(policy.cover_exposure_grades))
    floor = np.where(covers, exposure * policy.exposure_buffer, 0.0)
    limit = np.maximum(sales_limit, floor)
    has_current = ~np.isnan(current)
    increase_cap = np.where(
        has_current, np.nan_to_num(current) * (1 + policy.max_increase_pct), policy.new_customer_max
    )
    # The increase cap never forces a cut below today's limit: capping only limits growth.
    increase_cap = np.maximum(increase_cap, np.where(has_current, np.nan_to_num(current), 0.0))
    capped = limit > increase_cap
    limit = np.minimum(limit, increase_cap)
    limit = np.where(months == 0, 0.0, limit)
    house = limit > policy.max_limit
    limit = np.clip(limit, policy.min_limit, policy.max_limit)
    cap_kind = np.where(
        house, "house", np.where(capped, np.where(has_current, "increase", "new_customer"), "")
    )
    cap = np.where(house, policy.max_limit, np.where(capped, increase_cap, np.nan))
    recommended = np.floor(limit / policy.rounding_step) * policy.rounding_step
    return LimitBasis(months, sales, sales_limit, floor, cap, cap_kind.astype(object), recommended)


def recommended_limits(frame: pd.DataFrame, policy: LimitPolicy) -> np.ndarray:
    """Recommended limit per row (limit_basis(...).recommended)."""
    return limit_basis(frame, policy).recommended


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _basis_text(basis: LimitBasis, i: int, policy: LimitPolicy) -> str:
    """The numbers behind one recommendation, e.g. "4.5 x 2,100/month = 9,450, open 8,000 x 1.25 = 10,000"."""
    text = f"{basis.months[i]:g} months x {_money(basis.monthly_sales[i])}/month = {_money(basis.sales_limit[i])}"
    if basis.exposure_floor[i] > basis.sales_limit[i]:
        text += f", open x {policy.exposure_buffer:g} = {_money(basis.exposure_floor[i])}"
    kind = basis.cap_kind[i]
    if kind == "increase":
        text += f", capped at +{policy.max_increase_pct:.0%} = {_money(basis.cap[i])}"
    elif kind == "new_customer":
        text += f", new-customer cap {_money(basis.cap[i])}"
    elif kind == "house":
        text += f", house limit {_money(basis.cap[i])}"
    return text


def decide(frame: pd.DataFrame, policy: LimitPolicy) -> tuple[np.ndarray, np.ndarray]:
    """Decision and a rationale naming the numbers it used, per row.

    Needs rating_grade, risk_segment, recommended_credit_limit, credit_limit, dpd_current,
    limit_utilisation (and, for the limit's basis, the columns limit_basis reads). Rules are checked
    in order: hold, reduce, review, approve.
    """
    grade = frame["rating_grade"].to_numpy(dtype=object)
    segment = frame["risk_segment"].to_numpy(dtype=object)
    recommended = numeric_column(frame, "recommended_credit_limit")
    current = numeric_column(frame, "credit_limit")
    dpd = np.nan_to_num(numeric_column(frame, "dpd_current"))
    util = numeric_column(frame, "limit_utilisation")
    basis = limit_basis(frame, policy)

    hold_grade = np.isin(grade, list(policy.hold_grades))
    hold_dpd = dpd > policy.hold_dpd
    reduce = ~np.isnan(current) & (recommended < current * (1 - policy.reduce_tolerance))
    review_segment = np.isin(segment, list(policy.review_segments))
    review_grade = np.isin(grade, list(policy.review_grades))
    review_util = np.nan_to_num(util) > policy.review_utilisation

    decision = np.select(
        [hold_grade | hold_dpd, reduce, review_segment | review_grade | review_util],
        ["hold", "reduce", "review"],
        default="approve",
    ).astype(object)

    rationale = np.empty(len(frame), dtype=object)
    for i in range(len(frame)):
        rec = _money(recommended[i])
        cur = "none" if np.isnan(current[i]) else _money(current[i])
        if decision[i] == "hold":
            why = (
                f"grade {grade[i]} (default)"
                if hold_grade[i]
                else f"{dpd[i]:.0f} days past due > {policy.hold_dpd:g}"
            )
            rationale[i] = f"Hold: {why}; no new credit, recommended limit {rec}"
            continue
        how = _basis_text(basis, i, policy)
        if decision[i] == "reduce":
            rationale[i] = (
                f"Reduce: grade {grade[i]} supports {rec} ({how}), more than "
                f"{policy.reduce_tolerance:.0%} below the current {cur}"
            )
        elif decision[i] == "review":
            if review_segment[i]:
                why = f"{segment[i]} risk segment"
            elif review_grade[i]:
                why = f"grade {grade[i]} is always reviewed"
            else:
                why = f"limit utilisation {util[i]:.0%} > {policy.review_utilisation:.0%}"
            rationale[i] = f"Review: {why}; grade {grade[i]}, recommended {rec} ({how}), current {cur}"
        else:
            rationale[i] = f"Approve: grade {grade[i]}, recommended {rec} ({how}), current {cur}"
    return decision, rationale
