"""Scoring partitioned over workers: a plan of hash partitions per run, each partition staged alone.

The daily run scores the book in `scoring.partitions` (config/model.yml) parts that Airflow workers
take in parallel, and publishes the day only when every part is staged:

1. plan (task plan_scoring): clear what earlier runs staged for D and write one row per partition to
   ratings_stage.scoring_partitions, with the model version every part scores with and the one
   scored_at they all stamp (the champion is resolved once, so a promotion during the run cannot mix
   two versions in one day);
2. stage_partition (mapped task score_partition, one per partition): in ONE transaction, score the
   customers of the partition (ratings_stage.scoring_partition(customer_id, n) = p), COPY their rows
   and warning hits into ratings_stage and mark the partition staged. A failed attempt rolls back
   whole, so its retry starts clean; a partition run again after it succeeded replaces its own rows;
3. staged_plan (task score_and_publish): check that every partition of the run is staged and sum
   what they staged; ratings.publish then gates and publishes the day in one transaction.

Scoring in one process (ratings.publish.score_and_publish) is the same path with one partition.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg2.extensions

from common.config import load_config
from common.warehouse import transaction
from ml.registry import Champion
from ratings.queries import queries
from ratings.scoring import DEFAULT_CHUNK_SIZE, RatingContext, read_snapshot
from ratings.staging import StageResult, stage_frames

PLAN_TABLE = "ratings_stage.scoring_partitions"


class PartitionsNotStaged(RuntimeError):
    """The run has no scoring plan for the date, or some of its partitions are not staged yet."""


@dataclass(frozen=True)
class ScoringPlan:
    """What every partition of one run scores with."""

    as_of_date: date
    run_id: str
    partitions: int
    model_name: str
    model_version: str
    scored_at: datetime

    def numbers(self) -> list[int]:
        return list(range(self.partitions))


def configured_partitions() -> int:
    """config/model.yml scoring.partitions: how many parts the daily run scores the book in."""
    return int((load_config("model").get("scoring") or {}).get("partitions", 1))


def plan_scoring(url: str, as_of_date: date, run_id: str, champion: Champion, partitions: int) -> ScoringPlan:
    """Start scoring D afresh: clear D's stage and write the plan of `partitions` parts (committed)."""
    if partitions < 1:
        raise ValueError(f"scoring needs at least one partition, got {partitions}")
    plan = ScoringPlan(as_of_date, run_id, partitions, champion.name, champion.version, datetime.now(UTC))
    sql = queries("partitions")
    with transaction(url) as cur:
        cur.execute(sql["clear_date"], {"d": as_of_date, "run": run_id})
        cur.execute(
            sql["insert_plan"],
            {
                "d": as_of_date,
                "run": run_id,
                "n": partitions,
                "model_name": plan.model_name,
                "model_version": plan.model_version,
                "scored_at": plan.scored_at,
            },
        )
    return plan


def stage_partition(
    url: str,
    as_of_date: date,
    run_id: str,
    partition: int,
    champion: Champion,
    ctx: RatingContext | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StageResult:
    """Score partition `partition` of the run's plan into ratings_stage and mark it staged (one
    transaction: all of the partition or none of it)."""
    sql = queries("partitions")
    params = {"d": as_of_date, "run": run_id, "p": partition}
    ctx = ctx or RatingContext.from_config()
    with transaction(url) as cur:
        cur.execute(sql["lock_partition"], params)
        row = cur.fetchone()
        if row is None:
            raise PartitionsNotStaged(
                f"run {run_id} has no plan for partition {partition} of {as_of_date}: plan_scoring starts a "
                "run's scoring (rerun the day from plan_scoring)"
            )
        partitions, model_name, model_version, scored_at, staged_at = row
        if (champion.name, champion.version) != (model_name, model_version):
            raise ValueError(
                f"partition {partition} of {as_of_date} is planned for {model_name} version {model_version}, "
                f"not {champion.name} version {champion.version}: every partition of a day scores with one model"
            )
        params["n"] = partitions
        if staged_at is not None:
            cur.execute(sql["clear_partition"], params)
        snapshot = read_snapshot(
            url, as_of_date, chunk_size, partition=(partition, partitions) if partitions > 1 else None
        )
        staged = stage_frames(cur, snapshot, as_of_date, run_id, champion, ctx, scored_at)
        cur.execute(
            sql["mark_staged"],
            params
            | {
                "rows": staged.rows,
                "observations": staged.observations,
                "grades": json.dumps(staged.grade_counts),
            },
        )
    return staged


def planned_version(url: str, as_of_date: date, run_id: str) -> str:
    """The model version the run's plan for as_of_date scores with."""
    with transaction(url) as cur:
        cur.execute(queries("partitions")["plan_rows"], {"d": as_of_date, "run": run_id})
        row = cur.fetchone()
    if row is None:
        raise PartitionsNotStaged(
            f"run {run_id} has no scoring plan for {as_of_date}: run plan_scoring first"
        )
    return str(row[3])


def staged_plan(
    cur: psycopg2.extensions.cursor, as_of_date: date, run_id: str
) -> tuple[ScoringPlan, StageResult]:
    """The run's plan and the sum of its partitions; PartitionsNotStaged unless every one is staged."""
    cur.execute(queries("partitions")["plan_rows"], {"d": as_of_date, "run": run_id})
    rows = cur.fetchall()
    if not rows:
        raise PartitionsNotStaged(f"run {run_id} has no scoring plan for {as_of_date}: nothing was staged")
    _, partitions, model_name, model_version, scored_at, _, _, _, _ = rows[0]
    plan = ScoringPlan(as_of_date, run_id, partitions, model_name, model_version, scored_at)
    missing = [r[0] for r in rows if r[5] is None]
    if missing or len(rows) != partitions:
        missing = sorted(set(plan.numbers()) - {r[0] for r in rows if r[5] is not None})
        raise PartitionsNotStaged(
            f"{len(missing)} of {partitions} partitions of {as_of_date} (run {run_id}) are not staged: "
            f"{missing}; nothing is published until every partition has succeeded"
        )
    grades: Counter[str] = Counter()
    for r in rows:
        grades.update({str(k): int(v) for k, v in (r[8] or {}).items()})
    staged = StageResult(
        rows=sum(int(r[6]) for r in rows),
        grade_counts=dict(grades),
        observations=sum(int(r[7]) for r in rows),
    )
    return plan, staged
