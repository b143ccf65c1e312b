"""Scoring the book: read a day's feature snapshot in chunks, score it with the champion, rate the rows."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from psycopg2 import sql

from common.config import load_config
from common.sql_identifiers import identifier
from common.warehouse import connect
from ml.pyfunc_model import OUTPUT_COLUMNS
from ml.scale import MasterScale, load_master_scale
from ratings.columns import numeric_column
from ratings.limits import LimitPolicy, decide, load_limit_policy, recommended_limits
from ratings.segments import Segment, load_segments, segment_for_grade
from ratings.warnings_rules import Rule, load_rules

FEATURE_TABLE = "marts.customer_features"
DEFAULT_CHUNK_SIZE = 50_000


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


def snapshot_columns() -> dict[str, str]:
    """Every column of the feature snapshot (key plus config/features.yml) -> its kind, checked as identifiers.

    Unlike the model's features (ml.dataset.feature_spec), these include the columns only the limit
    policy and the warning rules read.
    """
    spec = load_config("features")
    kinds = {"customer_id": "key", "as_of_date": "date"}
    kinds.update(
        {identifier(f["name"], "features.yml: feature name"): str(f["kind"]) for f in spec["features"]}
    )
    return kinds


def read_snapshot(
    url: str,
    as_of_date: date,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    table: str = FEATURE_TABLE,
    partition: tuple[int, int] | None = None,
) -> Iterator[pd.DataFrame]:
    """The feature snapshot of as_of_date, in customer_id order, chunk by chunk (`table`: a relation
    with the snapshot's columns, e.g. the credit-event re-rating's marts.customer_features_rerated).
    partition=(p, n): only the customers of hash partition p of n (ratings_stage.scoring_partition).

    One COPY streams the snapshot through a pipe from a reader thread (its own connection) into
    pandas, which parses chunk_size rows at a time: memory is bounded by the chunk, not the population.
    Numeric columns arrive as float64, text as str, dates as datetime64.
    """
    kinds = snapshot_columns()
    columns = list(kinds)
    # The feature names come from config, so the statement is composed from checked identifiers.
    where = sql.SQL("as_of_date = {d}").format(d=sql.Literal(as_of_date))
    if partition is not None:
        p, n = (int(v) for v in partition)
        if not 0 <= p < n:
            raise ValueError(f"partition {p} of {n}: a partition is 0 to {n - 1}")
        where = sql.SQL("{w} and ratings_stage.scoring_partition(customer_id, {n}) = {p}").format(
            w=where, n=sql.Literal(n), p=sql.Literal(p)
        )
    select = sql.SQL(
        "copy (select {cols} from {table} where {where} order by customer_id) to stdout with (format csv)"
    ).format(
        # flags are read as integers whether the mart stores them as integer or boolean
        cols=sql.SQL(", ").join(
            sql.SQL("{c}::integer").format(c=sql.Identifier(c)) if kinds[c] == "flag" else sql.Identifier(c)
            for c in columns
        ),
        table=sql.Identifier(*table.split(".")),
        where=where,
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
            chunks = pd.read_csv(
                source,
                names=columns,
                header=None,
                dtype=dtypes,
                parse_dates=dates,
                chunksize=chunk_size,
                keep_default_na=False,
                na_values=[""],
            )
            yield from (chunk for chunk in chunks if len(chunk))
    finally:
        reader.join()
        conn.close()
    if failure:
        raise failure[0]


def check_predictions(predictions: Any, n_rows: int, scale: MasterScale) -> pd.DataFrame:
    """Enforce the scoring model's output contract (ml.pyfunc_model) before anything is written."""
    if not isinstance(predictions, pd.DataFrame):
        raise TypeError(f"model must return a DataFrame, got {type(predictions).__name__}")
    missing = [c for c in OUTPUT_COLUMNS if c not in predictions]
    if missing:
        raise ValueError(f"model output lacks columns {missing}")
    if len(predictions) != n_rows:
        raise ValueError(f"model returned {len(predictions)} rows for {n_rows} inputs")
    pred = predictions[OUTPUT_COLUMNS].reset_index(drop=True)
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
    frame["current_credit_limit"] = numeric_column(frame, "credit_limit")
    return frame
