"""Staging: score the snapshot chunk by chunk and COPY the rated rows and warning hits into ratings_stage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions

from common.warehouse import copy_rows
from ml.registry import Champion
from ml.scale import MasterScale
from ratings.queries import queries
from ratings.scoring import RatingContext, rate_frame
from ratings.warnings_rules import Rule, evaluate_rules, lookbacks, ref_column

STAGE_TABLE = "ratings_stage.customer_ratings"
STAGE_OBSERVATIONS = "ratings_stage.warning_observations"
RATING_COLUMNS = [
    "customer_id",
    "as_of_date",
    "pd_12m",
    "score",
    "rating_grade",
    "risk_segment",
    "current_credit_limit",
    "recommended_credit_limit",
    "decision",
    "decision_rationale",
    "reason_codes",
    "model_name",
    "model_version",
    "run_id",
    "scored_at",
]


@dataclass
class StageResult:
    """What staging one run put into ratings_stage."""

    rows: int
    grade_counts: dict[str, int]
    observations: int


def pg_text_array(codes: Any) -> str:
    """A list of codes as a PostgreSQL text[] literal for COPY (None: the empty array)."""
    if codes is None or (isinstance(codes, float) and np.isnan(codes)):
        return "{}"
    items = ['"' + str(c).replace("\\", "\\\\").replace('"', '\\"') + '"' for c in list(codes)]
    return "{" + ",".join(items) + "}"


def add_references(
    cur: psycopg2.extensions.cursor,
    frame: pd.DataFrame,
    as_of_date: date,
    rules: tuple[Rule, ...],
    scale: MasterScale,
) -> pd.DataFrame:
    """Join each customer's reference rating per lookback: the latest stored rating dated between
    D - 2*lookback_days and D - lookback_days (what the change rules compare with)."""
    ranks = {g.grade: g.rank for g in scale.grades}
    ids = frame["customer_id"].astype(str).tolist()
    for days in lookbacks(rules):
        hi = as_of_date - pd.Timedelta(days=days)
        lo = as_of_date - pd.Timedelta(days=2 * days)
        cur.execute(queries("staging")["reference_ratings"], {"ids": ids, "lo": lo, "hi": hi})
        ref = pd.DataFrame(cur.fetchall(), columns=["customer_id", "score", "rating_grade"])
        by_id = ref.set_index("customer_id")
        frame[ref_column("score", days)] = frame["customer_id"].map(by_id["score"]).astype(float)
        frame[ref_column("grade_rank", days)] = (
            frame["customer_id"].map(by_id["rating_grade"]).map(ranks).astype(float)
        )
    return frame


def staged_rows(
    frame: pd.DataFrame, as_of_date: date, run_id: str, champion: Champion, scored_at: datetime
) -> pd.DataFrame:
    """A rated chunk in the columns of ratings_stage.customer_ratings (RATING_COLUMNS)."""
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "as_of_date": as_of_date.isoformat(),
            "pd_12m": frame["pd_12m"],
            "score": frame["score"],
            "rating_grade": frame["rating_grade"],
            "risk_segment": frame["risk_segment"],
            "current_credit_limit": frame["current_credit_limit"].round(2),
            "recommended_credit_limit": frame["recommended_credit_limit"],
            "decision": frame["decision"],
            "decision_rationale": frame["decision_rationale"],
            "reason_codes": [pg_text_array(c) for c in frame["reason_codes"]],
            "model_name": champion.name,
            "model_version": champion.version,
            "run_id": run_id,
            "scored_at": scored_at.isoformat(),
        }
    )


def stage_frames(
    cur: psycopg2.extensions.cursor,
    snapshot: Iterable[pd.DataFrame],
    as_of_date: date,
    run_id: str,
    champion: Champion,
    ctx: RatingContext,
    scored_at: datetime,
) -> StageResult:
    """Score feature frames with the champion, rate them, evaluate the warning rules against the
    reference ratings and COPY rows and hits into ratings_stage (in the caller's transaction)."""
    counts: Counter[str] = Counter()
    rows = observations = 0
    for features in snapshot:
        frame = rate_frame(features, champion.model.predict(features), ctx)
        frame = add_references(cur, frame, as_of_date, ctx.rules, ctx.scale)
        hits = evaluate_rules(frame, ctx.rules, champion.version)
        rows += copy_rows(
            cur, STAGE_TABLE, RATING_COLUMNS, staged_rows(frame, as_of_date, run_id, champion, scored_at)
        )
        hits.insert(0, "run_id", run_id)
        hits["as_of_date"] = as_of_date.isoformat()
        observations += copy_rows(cur, STAGE_OBSERVATIONS, list(hits.columns), hits)
        counts.update(frame["rating_grade"].tolist())
    return StageResult(rows=rows, grade_counts=dict(counts), observations=observations)
