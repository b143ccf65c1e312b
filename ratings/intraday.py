"""Intraday ratings: publish the re-rating of a few customers after credit events (ratings/sql/intraday.sql).

The features come from marts.customer_features_rerated (the daily feature SQL run for those accounts
only, pipeline.events); scoring, segments, limits, decisions, overrides and warning rules are the daily
publish's own. The rows become intraday versions dated after every rated date, which the daily run of
that date supersedes (ratings.versions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from common.warehouse import WAREHOUSE, connection_url, one_row, transaction
from ml.registry import Champion, load_champion
from ratings.overrides import apply_limit_overrides
from ratings.publish import PUBLISH_LOCK_KEY
from ratings.queries import queries
from ratings.scoring import RatingContext, read_snapshot
from ratings.staging import stage_frames

RERATED_FEATURE_TABLE = "marts.customer_features_rerated"


class DateAlreadyRated(RuntimeError):
    """The daily run has rated the date already: its ratings are the record, nothing to add."""


@dataclass
class IntradayResult:
    """What one intraday publish did (JSON-friendly via to_dict)."""

    as_of_date: date
    run_id: str
    customers: int
    model_version: str | None
    grade_changes: dict[str, str] = field(default_factory=dict)  # customer_id -> "old -> new"
    decisions: dict[str, str] = field(default_factory=dict)  # customer_id -> decision
    warnings_raised: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of_date"] = self.as_of_date.isoformat()
        return out


def latest_rated_date(url: str) -> date | None:
    """The newest date the daily run has rated (None before the first)."""
    with transaction(url) as cur:
        cur.execute(queries("intraday")["latest_rated_date"])
        return one_row(cur)[0]


def publish_intraday(
    as_of_date: date, run_id: str, url: str | None = None, *, champion: Champion | None = None
) -> IntradayResult:
    """Score the re-rated features of as_of_date with @champion and publish them as intraday versions
    and warnings, in one transaction under the publish lock.

    Raises DateAlreadyRated when the daily run has rated as_of_date (or a later date) meanwhile.
    """
    url = url or connection_url(WAREHOUSE)
    features = list(read_snapshot(url, as_of_date, table=RERATED_FEATURE_TABLE))
    if not features or sum(len(f) for f in features) == 0:
        return IntradayResult(as_of_date, run_id, 0, None)
    champion = champion or load_champion()
    ctx = RatingContext.from_config()
    scored_at = datetime.now(UTC)
    sql = queries("intraday")
    params = {"d": as_of_date, "run": run_id}
    result = IntradayResult(as_of_date, run_id, 0, champion.version)
    with transaction(url) as cur:
        cur.execute(queries("publish")["lock"], {"key": PUBLISH_LOCK_KEY})
        cur.execute(sql["latest_rated_date"])
        latest = one_row(cur)[0]
        if latest is not None and latest >= as_of_date:
            raise DateAlreadyRated(
                f"{as_of_date} is rated by the daily run already (latest rated date {latest})"
            )
        cur.execute(sql["clear_stage"], params)
        result.customers = stage_frames(cur, features, as_of_date, run_id, champion, ctx, scored_at).rows
        apply_limit_overrides(cur, as_of_date, run_id)
        cur.execute(sql["grade_changes"], params)
        for customer, old, new, decision in cur.fetchall():
            if old != new:
                result.grade_changes[customer] = f"{old or '-'} -> {new}"
            result.decisions[customer] = decision
        for name in ("drop_same_day", "cut_short", "insert_intraday", "drop_same_day_warnings"):
            cur.execute(sql[name], params)
        cur.execute(sql["insert_intraday_warnings"], params)
        result.warnings_raised = max(cur.rowcount, 0)
        cur.execute(sql["clear_stage"], params)
    return result
