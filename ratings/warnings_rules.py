"""Early-warning rules from config/warnings.yml: daily hits per customer, rebuilt into episodes.

A rule's condition is evaluated per customer on each rated date D and stored as an observation
(ratings.warning_observations) when it holds. Episodes (ratings.credit_warnings) are the runs of
consecutive rated dates (ratings.model_monitoring) on which a customer+rule holds: first_seen_date is
the first date of the run, last_seen_date the last, and resolved_date the next rated date (open while
none exists). Publishing D replaces D's observations and rebuilds only the episodes of customer+rule
pairs that hold at D or have an episode touching the rated dates around D, so a rerun, or a
backfill in any order, gives the same episodes as running every date once in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions

from common.config import load_config

SEVERITIES = ("info", "warning", "critical")
COMPARISONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "gt": np.greater,
    "ge": np.greater_equal,
    "lt": np.less,
    "le": np.less_equal,
}
_SYMBOL = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def ref_column(kind: str, lookback_days: int) -> str:
    """Column holding a customer's reference rating value (score or grade_rank) for a lookback."""
    return f"ref_{kind}_{int(lookback_days)}d"


def _days_since_default(frame: pd.DataFrame, rule: Rule) -> np.ndarray:
    last = pd.to_datetime(frame.get("last_default_date"), errors="coerce")
    as_of = pd.to_datetime(frame["as_of_date"])
    days = (as_of - last).dt.days.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.nan_to_num(_num(frame, "in_default")) >= 1, days, np.nan)


# Metric name (config) -> function of the rated frame. Change metrics read the reference columns
# (ref_column) that the caller joins for the rule's lookback_days.
METRICS: dict[str, Callable[[pd.DataFrame, Rule], np.ndarray]] = {
    "pd_12m": lambda f, r: _num(f, "pd_12m"),
    "dpd_current": lambda f, r: _num(f, "dpd_current"),
    "limit_utilisation": lambda f, r: _num(f, "limit_utilisation"),
    "bureau_score_change_6m": lambda f, r: _num(f, "bureau_score_change_6m"),
    "grade_notches_down": lambda f, r: _num(f, "grade_rank") - _num(f, ref_column("grade_rank", r.lookback_days)),
    "score_drop": lambda f, r: _num(f, ref_column("score", r.lookback_days)) - _num(f, "score"),
    "complaint_excess_3m": lambda f, r: _num(f, "complaint_count_3m") - _num(f, "complaint_count_12m") * 3 / 12,
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
            raise ValueError(f"rule code {rule.code!r} must be UPPER_SNAKE_CASE (2-40 characters)")
        if rule.metric not in METRICS:
            raise ValueError(f"rule {rule.code}: unknown metric {rule.metric!r}; known: {sorted(METRICS)}")
        if rule.comparison not in COMPARISONS:
            raise ValueError(f"rule {rule.code}: comparison must be one of {sorted(COMPARISONS)}")
        if rule.severity not in SEVERITIES:
            raise ValueError(f"rule {rule.code}: severity must be one of {SEVERITIES}")
        if rule.metric in CHANGE_METRICS and rule.lookback_days <= 0:
            raise ValueError(f"rule {rule.code}: metric {rule.metric} needs lookback_days > 0")
        rules.append(rule)
    codes = [r.code for r in rules]
    if len(set(codes)) != len(codes):
        raise ValueError(f"duplicate rule codes in warnings config: {codes}")
    return tuple(rules)


def lookbacks(rules: tuple[Rule, ...]) -> list[int]:
    """Distinct lookback_days of the change rules (each needs a reference rating)."""
    return sorted({r.lookback_days for r in rules if r.metric in CHANGE_METRICS})


OBSERVATION_COLUMNS = [
    "customer_id", "rule_code", "as_of_date", "severity", "metric_value", "threshold", "message", "model_version",
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


@dataclass(frozen=True)
class EpisodeCounts:
    """What publishing one date did to the warning episodes."""

    opened: int
    continued: int
    resolved: int


_REBUILD_SQL = """
create temp table _rated on commit drop as
    select as_of_date, row_number() over (order by as_of_date) as k from ratings.model_monitoring;

create temp table _affected on commit drop as
with touching as (
    select customer_id, rule_code, first_seen_date as lo, last_seen_date as hi
    from ratings.credit_warnings
    where last_seen_date >= %(prev)s and first_seen_date <= %(next)s
    union all
    select customer_id, rule_code, as_of_date, as_of_date
    from ratings.warning_observations
    where as_of_date = %(d)s
)
select customer_id, rule_code, least(min(lo), %(d)s) as lo, greatest(max(hi), %(d)s) as hi
from touching
group by customer_id, rule_code;
analyze _affected;

create temp table _episodes on commit drop as
with obs as (
    select o.*, r.k
    from ratings.warning_observations as o
    inner join _affected as a on a.customer_id = o.customer_id and a.rule_code = o.rule_code
    inner join _rated as r on r.as_of_date = o.as_of_date
    where o.as_of_date between a.lo and a.hi
),
islands as (
    select obs.*, k - row_number() over (partition by customer_id, rule_code order by as_of_date) as grp
    from obs
),
runs as (
    select
        customer_id,
        rule_code,
        min(as_of_date) as first_seen_date,
        max(as_of_date) as last_seen_date,
        max(k) as last_k,
        (array_agg(severity order by as_of_date desc))[1] as severity,
        (array_agg(metric_value order by as_of_date desc))[1] as metric_value,
        (array_agg(threshold order by as_of_date desc))[1] as threshold,
        (array_agg(message order by as_of_date desc))[1] as message,
        (array_agg(model_version order by as_of_date desc))[1] as model_version
    from islands
    group by customer_id, rule_code, grp
)
select
    runs.*,
    nxt.as_of_date as resolved_date,
    case when nxt.as_of_date is null then 'open' else 'resolved' end as status
from runs
left join _rated as nxt on nxt.k = runs.last_k + 1;
analyze _episodes;

delete from ratings.credit_warnings as w
using _affected as a
where w.customer_id = a.customer_id and w.rule_code = a.rule_code
    and w.first_seen_date >= a.lo and w.last_seen_date <= a.hi
    and not exists (
        select 1 from _episodes as e
        where e.customer_id = w.customer_id and e.rule_code = w.rule_code
            and e.first_seen_date = w.first_seen_date
    );

update ratings.credit_warnings as w
set last_seen_date = e.last_seen_date,
    severity = e.severity,
    metric_value = e.metric_value,
    threshold = e.threshold,
    message = e.message,
    model_version = e.model_version,
    status = e.status,
    resolved_date = e.resolved_date
from _episodes as e
where e.customer_id = w.customer_id and e.rule_code = w.rule_code and e.first_seen_date = w.first_seen_date
    and (w.last_seen_date, w.status, w.resolved_date, w.metric_value, w.message)
        is distinct from (e.last_seen_date, e.status, e.resolved_date, e.metric_value, e.message);

insert into ratings.credit_warnings (
    customer_id, rule_code, severity, metric_value, threshold, message,
    first_seen_date, last_seen_date, status, model_version, resolved_date
)
select
    e.customer_id, e.rule_code, e.severity, e.metric_value, e.threshold, e.message,
    e.first_seen_date, e.last_seen_date, e.status, e.model_version, e.resolved_date
from _episodes as e
where not exists (
    select 1 from ratings.credit_warnings as w
    where w.customer_id = e.customer_id and w.rule_code = e.rule_code and w.first_seen_date = e.first_seen_date
);
"""

_COUNTS_SQL = """
select
    count(*) filter (where first_seen_date = %(d)s),
    count(*) filter (where first_seen_date < %(d)s and last_seen_date >= %(d)s),
    count(*) filter (where resolved_date = %(d)s)
from ratings.credit_warnings
where last_seen_date >= %(prev)s and first_seen_date <= %(d)s
"""


def rebuild_episodes(cur: psycopg2.extensions.cursor, as_of_date: date) -> EpisodeCounts:
    """Rebuild the episodes around as_of_date from the stored observations and rated dates.

    Call inside the publishing transaction, after D's observations and its model_monitoring row are
    written. Episodes keep their warning_id while their first_seen_date stays the same.
    """
    cur.execute(
        "select max(as_of_date) filter (where as_of_date < %(d)s),"
        " min(as_of_date) filter (where as_of_date > %(d)s) from ratings.model_monitoring",
        {"d": as_of_date},
    )
    prev, nxt = cur.fetchone()
    params = {
        "d": as_of_date,
        "prev": prev or date.min,
        "next": nxt or date.max,
    }
    for statement in ("drop table if exists _rated", "drop table if exists _affected",
                      "drop table if exists _episodes"):
        cur.execute(statement)
    cur.execute(_REBUILD_SQL, params)
    cur.execute(_COUNTS_SQL, params)
    opened, continued, resolved = cur.fetchone()
    return EpisodeCounts(int(opened), int(continued), int(resolved))
