"""Score the day's feature snapshot with @champion and publish ratings, decisions and warnings.

Flow of `score_and_publish(D, run_id)`:
1. stage: read marts.customer_features for D in chunks, score each chunk with the champion model,
   add segment, recommended limit, decision and warning hits, and COPY them into ratings_stage
   (its own transaction; BI never reads ratings_stage);
2. gate: an optional quality gate validates the staged rows of run_id (raise to stop the publish);
3. publish: ONE transaction sets D's ratings in ratings.customer_rating_versions (only the customers
   whose rating at D changes are touched, see publish_versions), records D in ratings.rated_dates,
   replaces the master scale, the monitoring row and D's warning observations, and rebuilds the
   warning episodes around D.
A failure anywhere leaves the published ratings as they were; a rerun of D replaces D.
ratings.customer_ratings (what BI reads) is a view expanding the versions over the rated dates.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
from psycopg2 import sql

from common.config import load_config
from common.sql_identifiers import identifier
from common.warehouse import WAREHOUSE, connect, connection_url, copy_rows, transaction
from ml.registry import Champion, load_champion
from ml.scale import MasterScale, load_master_scale
from ratings import monitoring
from ratings.limits import LimitPolicy, decide, load_limit_policy, recommended_limits
from ratings.segments import Segment, load_segments, segment_for_grade
from ratings.warnings_rules import (
    EpisodeCounts,
    Rule,
    evaluate_rules,
    load_rules,
    lookbacks,
    rebuild_episodes,
    ref_column,
)

FEATURE_TABLE = "marts.customer_features"
STAGE_TABLE = "ratings_stage.customer_ratings"
STAGE_OBSERVATIONS = "ratings_stage.warning_observations"
DEFAULT_CHUNK_SIZE = 50_000
PUBLISH_LOCK_KEY = 4_171_030  # one publish at a time: episodes of neighbouring dates interact

RATING_COLUMNS = [
    "customer_id", "as_of_date", "pd_12m", "score", "rating_grade", "risk_segment",
    "current_credit_limit", "recommended_credit_limit", "decision", "decision_rationale", "reason_codes",
    "model_name", "model_version", "run_id", "scored_at",
]
PREDICTION_COLUMNS = ["pd_12m", "score", "rating_grade", "reason_codes"]
# What a version compares: a customer gets a new version on a rated date when one of these differs from
# its version on the previous rated date. run_id and scored_at are not compared: a version keeps the
# run that published its valid_from_date.
RATED_VALUE_COLUMNS = [
    "pd_12m", "score", "rating_grade", "risk_segment", "current_credit_limit", "recommended_credit_limit",
    "decision", "decision_rationale", "reason_codes", "model_name", "model_version",
]
OPEN_END = date(9999, 12, 31)  # valid_to_date of a version that still holds on the latest rated date

# gate(table="ratings_stage.customer_ratings", url=...) raises to stop the publish; the caller binds
# as_of_date and run_id (the staged rows to check are those of that run_id and as_of_date).
RatingsGate = Callable[..., Any]


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
    psi: float | None
    warnings_opened: int
    warnings_continued: int
    warnings_resolved: int
    new_critical_warnings: list[dict[str, Any]] = field(default_factory=list)
    ratings_changed: int = 0  # customers whose rating at as_of_date changed (new, gone or different)
    versions_added: int = 0  # net rows this publish added to ratings.customer_rating_versions

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of_date"] = self.as_of_date.isoformat()
        return out


@dataclass(frozen=True)
class RatingContext:
    """Configuration that turns model output into published rows."""

    scale: MasterScale
    segments: tuple[Segment, ...]
    policy: LimitPolicy
    rules: tuple[Rule, ...]

    @classmethod
    def from_config(cls) -> RatingContext:
        scale = load_master_scale()
        return cls(scale, load_segments(scale=scale), load_limit_policy(scale=scale), load_rules())


def feature_spec() -> dict[str, str]:
    """Key plus feature columns of the snapshot (config/features.yml) -> kind, validated as identifiers."""
    spec = load_config("features")
    kinds = {"customer_id": "key", "as_of_date": "date"}
    kinds.update({identifier(f["name"], "features.yml: feature name"): str(f["kind"]) for f in spec["features"]})
    return kinds


def read_snapshot(url: str, as_of_date: date, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[pd.DataFrame]:
    """The feature snapshot of as_of_date, in customer_id order, chunk by chunk.

    One COPY streams the snapshot through a pipe from a reader thread (its own connection) into
    pandas, which parses chunk_size rows at a time: memory is bounded by the chunk, not the population.
    Numeric columns arrive as float64, text as str, dates as datetime64.
    """
    kinds = feature_spec()
    columns = list(kinds)
    select = sql.SQL("copy (select {cols} from {table} where as_of_date = {d} order by customer_id)"
                     " to stdout with (format csv)").format(
        # flags are read as integers whether the mart stores them as integer or boolean
        cols=sql.SQL(", ").join(
            sql.SQL("{c}::integer").format(c=sql.Identifier(c)) if kinds[c] == "flag" else sql.Identifier(c)
            for c in columns
        ),
        table=sql.Identifier(*FEATURE_TABLE.split(".")),
        d=sql.Literal(as_of_date),
    )
    dtypes = {c: ("float64" if k in ("numeric", "flag") else "str") for c, k in kinds.items() if k != "date"}
    dates = [c for c, k in kinds.items() if k == "date"]
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []
    conn = connect(url)

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as sink, conn.cursor() as cur:
                cur.copy_expert(select, sink)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            failure.append(exc)
        finally:
            conn.rollback()

    reader = threading.Thread(target=produce, name=f"snapshot-{as_of_date}", daemon=True)
    reader.start()
    try:
        with os.fdopen(read_fd, "rb") as source:
            chunks = pd.read_csv(source, names=columns, header=None, dtype=dtypes, parse_dates=dates,
                                 chunksize=chunk_size, keep_default_na=False, na_values=[""])
            yield from (chunk for chunk in chunks if len(chunk))
    finally:
        reader.join()
        conn.close()
    if failure:
        raise failure[0]


def check_predictions(predictions: Any, n_rows: int, scale: MasterScale) -> pd.DataFrame:
    """Enforce the scoring model's output contract before anything is written."""
    if not isinstance(predictions, pd.DataFrame):
        raise TypeError(f"model must return a DataFrame, got {type(predictions).__name__}")
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions]
    if missing:
        raise ValueError(f"model output lacks columns {missing}")
    if len(predictions) != n_rows:
        raise ValueError(f"model returned {len(predictions)} rows for {n_rows} inputs")
    pred = predictions[PREDICTION_COLUMNS].reset_index(drop=True)
    pd_12m = pd.to_numeric(pred["pd_12m"], errors="coerce")
    if pd_12m.isna().any() or ((pd_12m < 0) | (pd_12m > 1)).any():
        raise ValueError("model output pd_12m must be a probability in [0, 1] for every row")
    unknown = set(pred["rating_grade"]) - {g.grade for g in scale.grades}
    if unknown:
        raise ValueError(f"model output grades not on master scale {scale.version}: {sorted(unknown)}")
    return pred


def rate_frame(features: pd.DataFrame, predictions: pd.DataFrame, ctx: RatingContext) -> pd.DataFrame:
    """Features + model output -> rated frame with grade rank, segment, recommended limit, decision."""
    frame = features.reset_index(drop=True).copy()
    pred = check_predictions(predictions, len(frame), ctx.scale)
    frame["pd_12m"] = pred["pd_12m"].astype(float).to_numpy()
    frame["score"] = pred["score"].astype(int).to_numpy()
    frame["rating_grade"] = pred["rating_grade"].astype(str).to_numpy()
    frame["reason_codes"] = pred["reason_codes"].to_numpy()
    ranks = {g.grade: g.rank for g in ctx.scale.grades}
    frame["grade_rank"] = frame["rating_grade"].map(ranks).astype(int)
    frame["risk_segment"] = segment_for_grade(frame["rating_grade"], ctx.segments)
    frame["recommended_credit_limit"] = recommended_limits(frame, ctx.policy)
    frame["decision"], frame["decision_rationale"] = decide(frame, ctx.policy)
    frame["current_credit_limit"] = pd.to_numeric(frame.get("credit_limit"), errors="coerce")
    return frame


def _pg_text_array(codes: Any) -> str:
    if codes is None or (isinstance(codes, float) and np.isnan(codes)):
        return "{}"
    items = ['"' + str(c).replace("\\", "\\\\").replace('"', '\\"') + '"' for c in list(codes)]
    return "{" + ",".join(items) + "}"


# The version holding each customer's latest rating dated in [lo, hi]: the latest version overlapping
# [lo, hi] on a rated date (read from the versions: the view would expand every rated date first).
_REFERENCE_SQL = """
select distinct on (v.customer_id) v.customer_id, v.score, v.rating_grade
from ratings.customer_rating_versions as v
where v.customer_id = any(%(ids)s)
    and v.valid_from_date <= %(hi)s and v.valid_to_date > %(lo)s
    and exists (
        select 1 from ratings.rated_dates as d
        where d.as_of_date between greatest(v.valid_from_date, %(lo)s) and least(v.valid_to_date - 1, %(hi)s)
    )
order by v.customer_id, v.valid_from_date desc
"""


def add_references(
    cur: psycopg2.extensions.cursor, frame: pd.DataFrame, as_of_date: date, rules: tuple[Rule, ...],
    scale: MasterScale,
) -> pd.DataFrame:
    """Join each customer's reference rating per lookback: the latest stored rating dated between
    D - 2*lookback_days and D - lookback_days (what the change rules compare with)."""
    ranks = {g.grade: g.rank for g in scale.grades}
    ids = frame["customer_id"].astype(str).tolist()
    for days in lookbacks(rules):
        hi = as_of_date - pd.Timedelta(days=days)
        lo = as_of_date - pd.Timedelta(days=2 * days)
        cur.execute(_REFERENCE_SQL, {"ids": ids, "lo": lo, "hi": hi})
        ref = pd.DataFrame(cur.fetchall(), columns=["customer_id", "score", "rating_grade"])
        by_id = ref.set_index("customer_id")
        frame[ref_column("score", days)] = frame["customer_id"].map(by_id["score"]).astype(float)
        frame[ref_column("grade_rank", days)] = (
            frame["customer_id"].map(by_id["rating_grade"]).map(ranks).astype(float)
        )
    return frame


@dataclass
class StageResult:
    rows: int
    grade_counts: dict[str, int]
    observations: int


def stage_ratings(
    url: str,
    as_of_date: date,
    run_id: str,
    champion: Champion,
    ctx: RatingContext,
    scored_at: datetime,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StageResult:
    """Score the snapshot chunk by chunk into ratings_stage (one transaction, committed on success)."""
    counts: Counter[str] = Counter()
    rows = observations = 0
    with transaction(url) as cur:
        cur.execute("delete from ratings_stage.customer_ratings where as_of_date = %s", (as_of_date,))
        cur.execute("delete from ratings_stage.warning_observations where as_of_date = %s", (as_of_date,))
        for features in read_snapshot(url, as_of_date, chunk_size):
            frame = rate_frame(features, champion.model.predict(features), ctx)
            frame = add_references(cur, frame, as_of_date, ctx.rules, ctx.scale)
            hits = evaluate_rules(frame, ctx.rules, champion.version)
            out = pd.DataFrame(
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
                    "reason_codes": [_pg_text_array(c) for c in frame["reason_codes"]],
                    "model_name": champion.name,
                    "model_version": champion.version,
                    "run_id": run_id,
                    "scored_at": scored_at.isoformat(),
                }
            )
            rows += copy_rows(cur, STAGE_TABLE, RATING_COLUMNS, out)
            hits.insert(0, "run_id", run_id)
            hits["as_of_date"] = as_of_date.isoformat()
            observations += copy_rows(cur, STAGE_OBSERVATIONS, list(hits.columns), hits)
            counts.update(frame["rating_grade"].tolist())
    return StageResult(rows=rows, grade_counts=dict(counts), observations=observations)


def publish_master_scale(cur: psycopg2.extensions.cursor, scale: MasterScale) -> None:
    """Publish (replace) this version of the master scale into ratings.rating_master_scale."""
    cur.execute("delete from ratings.rating_master_scale where version = %s", (scale.version,))
    for g in scale.grades:
        cur.execute(
            "insert into ratings.rating_master_scale (grade, grade_rank, pd_lower, pd_upper, pd_central,"
            " description, version, is_default) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (g.grade, g.rank, g.pd_lower, g.pd_upper, g.pd_central, g.description, scale.version, g.is_default),
        )


def publish_segments(cur: psycopg2.extensions.cursor, segments: tuple[Segment, ...]) -> None:
    """Publish (replace) the risk segments into ratings.risk_segments."""
    cur.execute("delete from ratings.risk_segments")
    for s in segments:
        cur.execute(
            "insert into ratings.risk_segments (risk_segment, segment_rank, grades, review_frequency_months,"
            " description) values (%s, %s, %s, %s, %s)",
            (s.name, s.rank, list(s.grades), s.review_frequency_months, s.description),
        )


# --- ratings as versions ------------------------------------------------------------------------------
# A customer's version [valid_from_date, valid_to_date) holds on every rated date in that range; the
# versions of a customer never overlap, start on a rated date and end on the rated date where the rating
# changes or the customer is not rated (9999-12-31 while it holds on the latest rated date). Adjacent
# versions always differ (minimal). Publishing D is an interval-map update at D: for the customers whose
# rating at D changes (new, gone, or a value differs), split the version covering D into [from, D) and
# [next, to) (next: the rated date after D), add the new rating over [D, next) and merge it with the
# version ending at D and the one starting at next when they are equal. A version carries the run_id and
# scored_at of the run that published its valid_from_date (ratings.rated_dates), so the result is the
# same whatever order dates are (re)published in.

_VERSION_COLUMNS = ["customer_id", "valid_from_date", "valid_to_date", *RATED_VALUE_COLUMNS, "run_id", "scored_at"]


def _same_values(left: str, right: str) -> sql.Composed:
    """(left.values) is not distinct from (right.values) over RATED_VALUE_COLUMNS."""
    return sql.SQL("({l}) is not distinct from ({r})").format(
        l=sql.SQL(", ").join(sql.Identifier(left, c) for c in RATED_VALUE_COLUMNS),
        r=sql.SQL(", ").join(sql.Identifier(right, c) for c in RATED_VALUE_COLUMNS),
    )


_STAGED = sql.SQL(
    "(select * from ratings_stage.customer_ratings where run_id = %(run)s and as_of_date = %(d)s)"
)
_C_VALUES = sql.SQL(", ").join(sql.Identifier("c", c) for c in RATED_VALUE_COLUMNS)
_S_VALUES = sql.SQL(", ").join(sql.Identifier("s", c) for c in RATED_VALUE_COLUMNS)
_V_VALUES = sql.SQL(", ").join(sql.Identifier("v", c) for c in RATED_VALUE_COLUMNS)
_INSERT_VERSION = sql.SQL("insert into ratings.customer_rating_versions ({cols})").format(
    cols=sql.SQL(", ").join(sql.Identifier(c) for c in _VERSION_COLUMNS)
)

# The one pass over every customer: those whose state at D is touched, with their staged rating.
# changed: rated at D now or before but not both, or a value differs; not changed: a rerun whose
# version starts at D and takes the new run. Every later step reads only these rows.
_DIFF_SQL = sql.SQL("""
create temp table _rating_diff on commit drop as
select
    coalesce(s.customer_id, v.customer_id) as customer_id,
    v.valid_from_date as cur_from,
    v.valid_to_date as cur_to,
    s.customer_id is not null as present,
    (v.customer_id is null or s.customer_id is null or not {same}) as changed,
    {s_values},
    s.run_id,
    s.scored_at
from (
    select * from ratings.customer_rating_versions
    where daterange(valid_from_date, valid_to_date) @> %(d)s::date
) as v
full join {staged} as s on v.customer_id = s.customer_id
where v.customer_id is null or s.customer_id is null or not {same}
    or (v.valid_from_date = %(d)s and (v.run_id, v.scored_at) is distinct from (s.run_id, s.scored_at))
""").format(same=_same_values("v", "s"), s_values=_S_VALUES, staged=_STAGED)

_VERSION_STEPS = [  # (statement, sign of its row count in the number of versions)
    # a rerun with an unchanged rating: the version starting at D takes the new run
    (sql.SQL("""
update ratings.customer_rating_versions as v
set run_id = c.run_id, scored_at = c.scored_at
from _rating_diff as c
where not c.changed and v.customer_id = c.customer_id and v.valid_from_date = %(d)s
"""), 0),
    # the part of a changed version after D: [next, to), published by the run of next
    (sql.SQL("""
{insert}
select v.customer_id, %(next)s, v.valid_to_date, {v_values}, %(next_run)s, %(next_scored_at)s
from ratings.customer_rating_versions as v
inner join _rating_diff as c on v.customer_id = c.customer_id and v.valid_from_date = c.cur_from
where c.changed and c.cur_to > %(next)s
""").format(insert=_INSERT_VERSION, v_values=_V_VALUES), 1),
    # the part before D: [from, D)
    (sql.SQL("""
update ratings.customer_rating_versions as v
set valid_to_date = %(d)s
from _rating_diff as c
where c.changed and c.cur_from < %(d)s and v.customer_id = c.customer_id and v.valid_from_date = c.cur_from
"""), 0),
    # a changed version starting at D has nothing before D
    (sql.SQL("""
delete from ratings.customer_rating_versions as v
using _rating_diff as c
where c.changed and c.cur_from = %(d)s and v.customer_id = c.customer_id and v.valid_from_date = %(d)s
"""), -1),
    # neighbours equal to the new rating are merged into it
    (sql.SQL("""
create temp table _rating_left (customer_id text primary key, valid_from_date date, run_id text,
    scored_at timestamptz) on commit drop
"""), 0),
    (sql.SQL("""
with merged as (
    delete from ratings.customer_rating_versions as v
    using _rating_diff as c
    where c.changed and c.present and v.customer_id = c.customer_id and v.valid_to_date = %(d)s and {same}
    returning v.customer_id, v.valid_from_date, v.run_id, v.scored_at
)
insert into _rating_left select * from merged
""").format(same=_same_values("v", "c")), -1),
    (sql.SQL("create temp table _rating_right (customer_id text primary key, valid_to_date date) on commit drop"), 0),
    (sql.SQL("""
with merged as (
    delete from ratings.customer_rating_versions as v
    using _rating_diff as c
    where c.changed and c.present and v.customer_id = c.customer_id and v.valid_from_date = %(next)s and {same}
    returning v.customer_id, v.valid_to_date
)
insert into _rating_right select * from merged
""").format(same=_same_values("v", "c")), -1),
    # the new rating over [D, next), widened by the merged neighbours
    (sql.SQL("""
{insert}
select
    c.customer_id,
    coalesce(l.valid_from_date, %(d)s),
    coalesce(r.valid_to_date, %(next)s),
    {c_values},
    coalesce(l.run_id, c.run_id),
    coalesce(l.scored_at, c.scored_at)
from _rating_diff as c
left join _rating_left as l on c.customer_id = l.customer_id
left join _rating_right as r on c.customer_id = r.customer_id
where c.changed and c.present
""").format(insert=_INSERT_VERSION, c_values=_C_VALUES), 1),
]


@dataclass
class VersionStats:
    """What publishing one date did to ratings.customer_rating_versions."""

    changed: int  # customers whose rating at D changed (new, gone or different)
    rerun: int  # unchanged customers whose version starting at D took the new run
    versions_added: int  # net rows added to the versions table


def publish_versions(
    cur: psycopg2.extensions.cursor, as_of_date: date, run_id: str, staged: StageResult
) -> VersionStats:
    """Set the ratings of as_of_date to the staged rows of run_id (inside the publishing transaction).

    Touches only the customers whose rating at as_of_date changes; records the date in
    ratings.rated_dates (replacing the run of a rerun).
    """
    cur.execute(
        "select count(*), min(scored_at), max(scored_at), min(model_name), max(model_name), min(model_version),"
        " max(model_version) from ratings_stage.customer_ratings where run_id = %s and as_of_date = %s",
        (run_id, as_of_date),
    )
    rows, scored_at, scored_max, model_name, name_max, model_version, version_max = cur.fetchone()
    if rows != staged.rows:
        raise RuntimeError(f"staged {staged.rows} ratings for {as_of_date} but found {rows} to publish")
    if (scored_at, model_name, model_version) != (scored_max, name_max, version_max):
        raise RuntimeError(f"the staged ratings of run {run_id} must share one scored_at and one model version")
    cur.execute(
        "select as_of_date, run_id, scored_at from ratings.rated_dates where as_of_date > %s"
        " order by as_of_date limit 1",
        (as_of_date,),
    )
    following = cur.fetchone()
    params = {
        "d": as_of_date,
        "run": run_id,
        "next": following[0] if following else OPEN_END,
        "next_run": following[1] if following else None,
        "next_scored_at": following[2] if following else None,
    }
    cur.execute(
        "insert into ratings.rated_dates (as_of_date, run_id, scored_at, model_name, model_version, rows_published)"
        " values (%s, %s, %s, %s, %s, %s) on conflict (as_of_date) do update set run_id = excluded.run_id,"
        " scored_at = excluded.scored_at, model_name = excluded.model_name, model_version = excluded.model_version,"
        " rows_published = excluded.rows_published, published_at = now()",
        (as_of_date, run_id, scored_at, model_name, model_version, rows),
    )
    for table in ("_rating_diff", "_rating_left", "_rating_right"):
        cur.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(table)))
    cur.execute(_DIFF_SQL, params)
    cur.execute("analyze _rating_diff")
    cur.execute("select count(*) filter (where changed), count(*) filter (where not changed) from _rating_diff")
    changed, rerun = cur.fetchone()
    added = 0
    for statement, sign in _VERSION_STEPS:
        cur.execute(statement, params)
        added += sign * max(cur.rowcount, 0)
    return VersionStats(changed=int(changed), rerun=int(rerun), versions_added=added)


_PUBLISH_OBSERVATIONS_SQL = """
insert into ratings.warning_observations (
    customer_id, rule_code, as_of_date, severity, metric_value, threshold, message, model_version
)
select customer_id, rule_code, as_of_date, severity, metric_value, threshold, message, model_version
from ratings_stage.warning_observations
where run_id = %s and as_of_date = %s
"""
_NEW_CRITICAL_SQL = """
select warning_id, customer_id, rule_code, severity, metric_value, threshold, message, first_seen_date
from ratings.credit_warnings
where first_seen_date = %s and severity = %s
order by rule_code, customer_id
"""


def new_warnings(cur: psycopg2.extensions.cursor, as_of_date: date, severity: str = "critical") -> list[dict]:
    """Episodes of a severity that opened on as_of_date."""
    cur.execute(_NEW_CRITICAL_SQL, (as_of_date, severity))
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["first_seen_date"] = r["first_seen_date"].isoformat()
    return rows


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
    cur.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK_KEY,))
    stats: dict[str, Any] = {"versions": asdict(publish_versions(cur, as_of_date, run_id, staged))}
    publish_master_scale(cur, ctx.scale)
    publish_segments(cur, ctx.segments)
    stats |= monitoring.write_monitoring(
        cur, as_of_date=as_of_date, model_name=champion.name, model_version=champion.version, run_id=run_id,
        scale_version=ctx.scale.version, grade_counts=staged.grade_counts,
        train_distribution=champion.train_distribution,
    )
    stats["backtest"] = monitoring.update_backtest(cur, as_of_date, [g.grade for g in ctx.scale.grades])
    cur.execute("delete from ratings.warning_observations where as_of_date = %s", (as_of_date,))
    cur.execute(_PUBLISH_OBSERVATIONS_SQL, (run_id, as_of_date))
    counts = rebuild_episodes(cur, as_of_date)
    cur.execute("delete from ratings_stage.customer_ratings where run_id = %s", (run_id,))
    cur.execute("delete from ratings_stage.warning_observations where run_id = %s", (run_id,))
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
    """Score every active customer's snapshot of as_of_date with @champion and publish ratings.*.

    gate, if given, is called as gate(table=STAGE_TABLE, url=url) once the rows are staged and
    committed; it validates the rows of this run_id and as_of_date (bind them, e.g.
    lambda **kw: run_gate("ratings", as_of_date=D, run_id=run_id, **kw)) and raises to stop.
    """
    feature_spec()  # config names are checked before any statement runs
    url = url or connection_url(WAREHOUSE)
    champion = champion or load_champion()
    ctx = RatingContext.from_config()
    scored_at = datetime.now(UTC)
    staged = stage_ratings(url, as_of_date, run_id, champion, ctx, scored_at, chunk_size)
    if staged.rows == 0:
        raise ValueError(f"no rows in {FEATURE_TABLE} for {as_of_date}: nothing to score")
    if gate is not None:
        gate(table=STAGE_TABLE, url=url)
    with transaction(url) as cur:
        stats, counts = publish_staged(cur, as_of_date, run_id, champion, ctx, staged)
        critical = new_warnings(cur, as_of_date)
    return PublishResult(
        as_of_date=as_of_date,
        run_id=run_id,
        rows_scored=staged.rows,
        grade_counts=dict(sorted(staged.grade_counts.items(), key=lambda kv: ctx.scale.rank_of(kv[0]))),
        model_name=champion.name,
        model_version=champion.version,
        scale_version=ctx.scale.version,
        psi=stats["psi"],
        warnings_opened=counts.opened,
        warnings_continued=counts.continued,
        warnings_resolved=counts.resolved,
        new_critical_warnings=critical,
        ratings_changed=stats["versions"]["changed"],
        versions_added=stats["versions"]["versions_added"],
    )
