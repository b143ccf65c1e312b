"""Early-warning rules from config/warnings.yml: the customers each rule fires for on a rated date."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.config import load_config
from ratings.columns import numeric_column

SEVERITIES = ("info", "warning", "critical")
COMPARISONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "gt": np.greater,
    "ge": np.greater_equal,
    "lt": np.less,
    "le": np.less_equal,
}
_SYMBOL = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")


def ref_column(kind: str, lookback_days: int) -> str:
    """Column holding a customer's reference rating value (score or grade_rank) for a lookback."""
    return f"ref_{kind}_{int(lookback_days)}d"


def _days_since_default(frame: pd.DataFrame, rule: Rule) -> np.ndarray:
    last = pd.to_datetime(frame.get("last_default_date"), errors="coerce")
    as_of = pd.to_datetime(frame["as_of_date"])
    days = (as_of - last).dt.days.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.nan_to_num(numeric_column(frame, "in_default")) >= 1, days, np.nan)


# Metric name (config) -> function of the rated frame. Change metrics read the reference columns
# (ref_column) that the caller joins for the rule's lookback_days.
METRICS: dict[str, Callable[[pd.DataFrame, Rule], np.ndarray]] = {
    "pd_12m": lambda f, r: numeric_column(f, "pd_12m"),
    "dpd_current": lambda f, r: numeric_column(f, "dpd_current"),
    "limit_utilisation": lambda f, r: numeric_column(f, "limit_utilisation"),
    "bureau_score_change_6m": lambda f, r: numeric_column(f, "bureau_score_change_6m"),
    "grade_notches_down": lambda f, r: (
        numeric_column(f, "grade_rank") - numeric_column(f, ref_column("grade_rank", r.lookback_days))
    ),
    "score_drop": lambda f, r: (
        numeric_column(f, ref_column("score", r.lookback_days)) - numeric_column(f, "score")
    ),
    "complaint_excess_3m": lambda f, r: (
        numeric_column(f, "complaint_count_3m") - numeric_column(f, "complaint_count_12m") * 3 / 12
    ),
    "days_since_default": _days_since_default,
}
CHANGE_METRICS = frozenset({"grade_notches_down", "score_drop"})


@dataclass(frozen=True)
class Rule:
    """One early-warning rule."""

    code: str
    description: str
    metric: str
    comparison: str
    threshold: float
    severity: str
    lookback_days: int = 0


def load_rules(config: dict[str, Any] | None = None) -> tuple[Rule, ...]:
    """Rules from config, validated (codes, metrics, comparisons and severities from fixed sets)."""
    config = config or load_config("warnings")
    rules = []
    for raw in config["rules"]:
        rule = Rule(
            code=str(raw["code"]),
            description=str(raw["description"]),
            metric=str(raw["metric"]),
            comparison=str(raw["comparison"]),
            threshold=float(raw["threshold"]),
            severity=str(raw["severity"]),
            lookback_days=int(raw.get("lookback_days", 0)),
        )
        if not _CODE.match(rule.code):
            raise ValueError(
                f"warnings.yml: rule code {rule.code!r} must be UPPER_SNAKE_CASE (2-40 characters)"
            )
        if rule.metric not in METRICS:
            raise ValueError(
                f"warnings.yml: rule {rule.code}: unknown metric {rule.metric!r}; known: {sorted(METRICS)}"
            )
        if rule.comparison not in COMPARISONS:
            raise ValueError(
                f"warnings.yml: rule {rule.code}: comparison must be one of {sorted(COMPARISONS)}"
            )
        if rule.severity not in SEVERITIES:
            raise ValueError(f"warnings.yml: rule {rule.code}: severity must be one of {SEVERITIES}")
        if rule.metric in CHANGE_METRICS and rule.lookback_days <= 0:
            raise ValueError(f"warnings.yml: rule {rule.code}: metric {rule.metric} needs lookback_days > 0")
        rules.append(rule)
    codes = [r.code for r in rules]
    if len(set(codes)) != len(codes):
        raise ValueError(f"warnings.yml: duplicate rule codes in warnings config: {codes}")
    return tuple(rules)


def lookbacks(rules: tuple[Rule, ...]) -> list[int]:
    """Distinct lookback_days of the change rules (each needs a reference rating)."""
    return sorted({r.lookback_days for r in rules if r.metric in CHANGE_METRICS})


OBSERVATION_COLUMNS = [
    "customer_id",
    "rule_code",
    "as_of_date",
    "severity",
    "metric_value",
    "threshold",
    "message",
    "model_version",
]


def evaluate_rules(frame: pd.DataFrame, rules: tuple[Rule, ...], model_version: str) -> pd.DataFrame:
    """Observations (one row per customer and rule whose condition holds) for a rated frame.

    A missing metric (no limit, no reference rating, ...) never fires a rule.
    """
    parts = []
    for rule in rules:
        values = METRICS[rule.metric](frame, rule)
        hit = ~np.isnan(values) & COMPARISONS[rule.comparison](np.nan_to_num(values), rule.threshold)
        if not hit.any():
            continue
        vals = values[hit]
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": frame["customer_id"].to_numpy()[hit],
                    "rule_code": rule.code,
                    "as_of_date": frame["as_of_date"].to_numpy()[hit],
                    "severity": rule.severity,
                    "metric_value": vals,
                    "threshold": rule.threshold,
                    "message": [
                        f"{rule.description}: {rule.metric} = {v:.4g} ({_SYMBOL[rule.comparison]} {rule.threshold:g})"
                        for v in vals
                    ],
                    "model_version": model_version,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=OBSERVATION_COLUMNS)
    return pd.concat(parts, ignore_index=True)[OBSERVATION_COLUMNS]
