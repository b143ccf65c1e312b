"""Score the day's feature snapshot with @champion and publish ratings, decisions and warnings.

Flow of `score_and_publish(D, run_id)`:
1. stage: read marts.customer_features for D in chunks, score each chunk with the champion model,
   add segment, recommended limit, decision and warning hits, and COPY them into ratings_stage
   (its own transaction; BI never reads ratings_stage);
2. gate: an optional quality gate validates the staged rows of run_id (raise to stop the publish);
3. publish: ONE transaction replaces D in ratings.customer_ratings, the master scale, the
   monitoring row and D's warning observations, and rebuilds the warning episodes around D.
A failure anywhere leaves the published ratings as they were; a rerun of D replaces D.
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
from ml import monitoring
from ml.limits import LimitPolicy, decide, load_limit_policy, recommended_limits
from ml.scale import MasterScale, load_master_scale
from ml.segments import Segment, load_segments, segment_for_grade
from ml.warnings_rules import (
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

# gate(table="ratings_stage.customer_ratings", url=...) raises to stop the publish; the caller binds
# as_of_date and run_id (the staged rows to check are those of that run_id and as_of_date).
RatingsGate = Callable[..., Any]


@dataclass(frozen=True)
class Champion:
    """The model used to score: a pyfunc plus what the registry says about it."""

    name: str
    version: str
    model: Any
    train_distribution: dict[str, float] | None = None


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


def _model_name() -> str:
    try:
        from ml.tracking import model_name

        return model_name()
    except ImportError:
        return str(load_config("model").get("model_name", "crm_credit_pd"))


def load_champion(name: str | None = None, alias: str = "champion") -> Champion:
    """Load models:/<name>@<alias> and the version it resolves to (recorded on every row)."""
    import mlflow
    from mlflow import MlflowClient

    try:
        from ml.tracking import tracking_uri

        mlflow.set_tracking_uri(tracking_uri())
    except ImportError:
        pass
    name = name or _model_name()
    version = MlflowClient().get_model_version_by_alias(name, alias)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
    train = monitoring.parse_train_distribution((version.tags or {}).get("train_grade_distribution"))
    return Champion(name=name, version=str(version.version), model=model, train_distribution=train)


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


_REFERENCE_SQL = """
select distinct on (customer_id) customer_id, score, rating_grade
from ratings.customer_ratings
where customer_id = any(%(ids)s) and as_of_date between %(lo)s and %(hi)s
order by customer_id, as_of_date desc
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


_PUBLISH_RATINGS_SQL = sql.SQL(
    "insert into ratings.customer_ratings ({cols}) select {cols}"
    " from ratings_stage.customer_ratings where run_id = %s and as_of_date = %s"
).format(cols=sql.SQL(", ").join(sql.Identifier(c) for c in RATING_COLUMNS))
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
    """Swap the staged rows of run_id in for as_of_date (call inside ONE transaction)."""
    cur.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK_KEY,))
    cur.execute("delete from ratings.customer_ratings where as_of_date = %s", (as_of_date,))
    cur.execute(_PUBLISH_RATINGS_SQL, (run_id, as_of_date))
    if cur.rowcount != staged.rows:
        raise RuntimeError(f"staged {staged.rows} ratings for {as_of_date} but found {cur.rowcount} to publish")
    publish_master_scale(cur, ctx.scale)
    publish_segments(cur, ctx.segments)
    stats = monitoring.write_monitoring(
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
    )
