"""Publishing a rated date: score and stage the book, gate it, swap it into ratings.* in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import psycopg2.extensions

from common.warehouse import WAREHOUSE, connection_url, transaction
from ml.registry import Champion, load_champion
from ml.scale import MasterScale
from ratings import monitoring
from ratings.episodes import EpisodeCounts, opened_counts, rebuild_episodes
from ratings.overrides import apply_limit_overrides
from ratings.partitions import plan_scoring, stage_partition, staged_plan
from ratings.queries import queries
from ratings.reasons import publish_reason_codes
from ratings.scoring import DEFAULT_CHUNK_SIZE, FEATURE_TABLE, RatingContext, snapshot_columns
from ratings.segments import Segment
from ratings.staging import STAGE_TABLE, StageResult
from ratings.versions import publish_versions

# gate(table="ratings_stage.customer_ratings", url=...) raises to stop the publish; the caller binds
# as_of_date and run_id (the staged rows to check are those of that run_id and as_of_date).
RatingsGate = Callable[..., Any]
PUBLISH_LOCK_KEY = 4_171_030  # the advisory lock that serialises publishes


@dataclass
class PublishResult:
    """What one publish of a date did (returned to the DAG; JSON-friendly via to_dict)."""

    as_of_date: date
    run_id: str
    rows_scored: int
    grade_counts: dict[str, int]
    model_name: str
    model_version: str
    scale_version: str
    psi: float | None  # over the performing grades, against training
    default_share: float | None
    new_defaults: int | None  # rated D now, not D on the rated date before (None on the first date)
    warnings_opened: int
    warnings_continued: int
    warnings_resolved: int
    warnings_initial: int = 0  # conditions already present on the first rated date (not alerted)
    new_critical_warnings: int = 0  # the count the alert task sends; the rows stay in the warehouse
    backtests_filled: list[str] = field(default_factory=list)  # rated dates whose horizon matured now
    ratings_changed: int = 0  # customers whose rating at as_of_date changed (new, gone or different)
    versions_added: int = 0  # net rows this publish added to ratings.customer_rating_versions

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of_date"] = self.as_of_date.isoformat()
        return out


def publish_master_scale(cur: psycopg2.extensions.cursor, scale: MasterScale) -> None:
    """Publish (replace) this version of the master scale into ratings.rating_master_scale."""
    sql = queries("publish")
    cur.execute(sql["clear_master_scale"], {"version": scale.version})
    cur.executemany(
        sql["insert_master_scale_grade"],
        [
            {
                "grade": g.grade,
                "rank": g.rank,
                "pd_lower": g.pd_lower,
                "pd_upper": g.pd_upper,
                "pd_central": g.pd_central,
                "description": g.description,
                "version": scale.version,
                "is_default": g.is_default,
            }
            for g in scale.grades
        ],
    )


def publish_segments(cur: psycopg2.extensions.cursor, segments: tuple[Segment, ...]) -> None:
    """Publish (replace) the risk segments into ratings.risk_segments."""
    sql = queries("publish")
    cur.execute(sql["clear_segments"])
    cur.executemany(
        sql["insert_segment"],
        [
            {
                "name": s.name,
                "rank": s.rank,
                "grades": list(s.grades),
                "months": s.review_frequency_months,
                "description": s.description,
            }
            for s in segments
        ],
    )


def publish_staged(
    cur: psycopg2.extensions.cursor,
    as_of_date: date,
    run_id: str,
    champion: Champion,
    ctx: RatingContext,
    staged: StageResult,
) -> tuple[dict[str, Any], EpisodeCounts]:
    """Publish the staged rows of run_id as the ratings of as_of_date (call inside ONE transaction).

    Returns the monitoring figures plus "versions" (VersionStats of the ratings step) and the episode counts.
    """
    sql = queries("publish")
    params = {"d": as_of_date, "run": run_id}
    cur.execute(sql["lock"], {"key": PUBLISH_LOCK_KEY})
    overridden = apply_limit_overrides(cur, as_of_date, run_id)  # credit-desk overrides win until they expire
    stats: dict[str, Any] = {"versions": asdict(publish_versions(cur, as_of_date, run_id, staged))}
    stats["overrides_applied"] = overridden
    publish_master_scale(cur, ctx.scale)
    publish_segments(cur, ctx.segments)
    publish_reason_codes(cur)
    default_grades = {g.grade for g in ctx.scale.grades if g.is_default}
    stats |= monitoring.write_monitoring(
        cur,
        as_of_date=as_of_date,
        model_name=champion.name,
        model_version=champion.version,
        run_id=run_id,
        scale_version=ctx.scale.version,
        grade_counts=staged.grade_counts,
        default_grades=default_grades,
        train_distribution=champion.train_distribution,
    )
    stats["backtests_filled"] = monitoring.update_backtests(
        cur, as_of_date, [g.grade for g in ctx.scale.grades], default_grades
    )
    cur.execute(sql["drop_superseded_intraday_warnings"], params)
    counts = rebuild_episodes(cur, as_of_date, run_id)
    cur.execute(sql["clear_stage"], params)
    return stats, counts


def score_and_publish(
    as_of_date: date,
    run_id: str,
    url: str | None = None,
    *,
    gate: RatingsGate | None = None,
    champion: Champion | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> PublishResult:
    """Score every active customer's snapshot of as_of_date with @champion and publish ratings.*, in
    this process: the daily run's partitioned path (ratings.partitions) with one partition.

    1. stage: read marts.customer_features for D in chunks, score each chunk with the champion, add
       segment, recommended limit, decision and warning hits, and COPY them into ratings_stage (its own
       transaction; BI never reads ratings_stage);
    2. and 3.: publish_partitions (the gate, then one publishing transaction).
    A failure anywhere leaves the published ratings as they were; a rerun of D replaces D.
    """
    snapshot_columns()  # config names are checked before any statement runs
    url = url or connection_url(WAREHOUSE)
    champion = champion or load_champion()
    plan_scoring(url, as_of_date, run_id, champion, partitions=1)
    stage_partition(url, as_of_date, run_id, 0, champion, chunk_size=chunk_size)
    return publish_partitions(as_of_date, run_id, url, gate=gate, champion=champion)


def publish_partitions(
    as_of_date: date,
    run_id: str,
    url: str | None = None,
    *,
    gate: RatingsGate | None = None,
    champion: Champion | None = None,
) -> PublishResult:
    """Publish what the partitions of run_id staged for as_of_date, once every one of them is staged.

    1. check: every partition of the run's plan is staged (PartitionsNotStaged names the missing ones);
    2. gate, if given, is called as gate(table=STAGE_TABLE, url=url) on the staged, committed rows; it
       validates the rows of this run_id and as_of_date (bind them, e.g.
       lambda **kw: run_gate("ratings", as_of_date=D, run_id=run_id, **kw)) and raises to stop;
    3. publish: ONE transaction sets D's ratings in ratings.customer_rating_versions, records D in
       ratings.rated_dates, replaces the master scale, the segments, the monitoring row, and sets the
       warning episodes around D to D's staged hits (the episodes are the stored runs of hits).
    champion: the planned version's registry record (read from the registry when not given; the model
    itself is not needed here).
    """
    url = url or connection_url(WAREHOUSE)
    with transaction(url) as cur:
        plan, staged = staged_plan(cur, as_of_date, run_id)
    if staged.rows == 0:
        raise ValueError(f"no rows in {FEATURE_TABLE} for {as_of_date}: nothing to score")
    champion = champion or load_champion(plan.model_version, with_model=False)
    if (champion.name, champion.version) != (plan.model_name, plan.model_version):
        raise ValueError(
            f"run {run_id} staged {plan.model_name} version {plan.model_version}, not {champion.name} "
            f"version {champion.version}"
        )
    ctx = RatingContext.from_config()
    if gate is not None:
        gate(table=STAGE_TABLE, url=url)
    with transaction(url) as cur:
        stats, counts = publish_staged(cur, as_of_date, run_id, champion, ctx, staged)
        critical, _ = opened_counts(cur, as_of_date)
    return PublishResult(
        as_of_date=as_of_date,
        run_id=run_id,
        rows_scored=staged.rows,
        grade_counts=dict(sorted(staged.grade_counts.items(), key=lambda kv: ctx.scale.rank_of(kv[0]))),
        model_name=champion.name,
        model_version=champion.version,
        scale_version=ctx.scale.version,
        psi=stats["psi"],
        default_share=stats["default_share"],
        new_defaults=stats["new_defaults"],
        warnings_opened=counts.opened,
        warnings_continued=counts.continued,
        warnings_resolved=counts.resolved,
        warnings_initial=counts.initial,
        new_critical_warnings=critical,
        backtests_filled=stats["backtests_filled"],
        ratings_changed=stats["versions"]["changed"],
        versions_added=stats["versions"]["versions_added"],
    )
