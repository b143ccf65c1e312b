"""Run-time values the suites read: volume bounds from the previous batch, freshness cut-offs,
distribution bands (config/quality.yml or learned from previous snapshots), the rating scale."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta
from typing import Any

from psycopg2 import sql

from common.config import load_config
from common.sql_identifiers import identifier
from common.warehouse import one_row


def _split(table: str) -> sql.Composed:
    schema, name = table.split(".", 1)
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _volume_settings(kind: str, table: str) -> dict[str, Any]:
    section = load_config("quality").get("volume", {}).get(kind, {})
    return {**section.get("default", {}), **section.get(table, {})}


def volume_bounds(previous_rows: int | None, settings: dict[str, Any]) -> dict[str, int | None]:
    """Row-count bounds for this batch from the previous batch's count (None = not checked)."""
    if previous_rows is None or previous_rows < int(settings.get("min_previous_rows", 0)):
        return {"volume_critical_min": None, "volume_warning_min": None, "volume_warning_max": None}
    return {
        "volume_critical_min": math.ceil(previous_rows * float(settings.get("critical_min_ratio", 0.0)))
        or None,
        "volume_warning_min": math.ceil(previous_rows * float(settings["warning_min_ratio"])),
        "volume_warning_max": math.floor(previous_rows * float(settings["warning_max_ratio"])),
    }


def previous_raw_batch_rows(
    cur: Any, table: str, interval_start: datetime, interval_end: datetime
) -> int | None:
    """Rows of the latest earlier batch of `table` with an interval of the same length (None if none).

    Only a batch of the same length is comparable: the initial load (years in one batch) is not the
    "previous batch" of the first daily run.
    """
    cur.execute(
        sql.SQL(
            "with prev as (select max(_interval_start) as s from {t} where _interval_start < %s "
            "and _interval_end - _interval_start = %s::interval) "
            "select count(*), max(prev.s) from prev left join {t} r on r._interval_start = prev.s "
            "and r._interval_end - r._interval_start = %s::interval"
        ).format(t=_split(table)),
        (interval_start, interval_end - interval_start, interval_end - interval_start),
    )
    count, previous = one_row(cur)
    return int(count) if previous is not None else None


def raw_parameters(cur: Any, table: str, interval_start: datetime, interval_end: datetime) -> dict[str, Any]:
    """Values for a raw suite: volume bounds and the freshness window of this interval."""
    fresh = load_config("quality").get("freshness", {})
    max_age = float(fresh.get(table, fresh.get("default_max_age_hours", 24)))
    previous = previous_raw_batch_rows(cur, table, interval_start, interval_end)
    return {
        **volume_bounds(previous, _volume_settings("raw", table)),
        "previous_batch_rows": previous,
        "freshness_min_updated_at": interval_end - timedelta(hours=max_age),
        "interval_end": interval_end,
    }


def _previous_snapshot_rows(cur: Any, table: str, as_of_date: date) -> int | None:
    cur.execute(
        sql.SQL(
            "select count(*), max(as_of_date) from {t} where as_of_date = "
            "(select max(as_of_date) from {t} where as_of_date < %s)"
        ).format(t=_split(table)),
        (as_of_date,),
    )
    count, previous = one_row(cur)
    return int(count) if previous is not None else None


def _history(cur: Any, table: str, as_of_date: date, bands: dict[str, Any], snapshots: int) -> list[dict]:
    """Per previous snapshot (newest `snapshots` before as_of_date): mean and quantiles of each band column."""
    parts: list[sql.Composable] = []
    names: list[tuple[str, str, float | None]] = []
    for column, band in bands.items():
        parts.append(sql.SQL("avg({c}::float8)").format(c=sql.Identifier(column)))
        names.append((column, "mean", None))
        for q in band.get("quantiles") or {}:
            parts.append(
                sql.SQL("percentile_disc({q}) within group (order by {c})").format(
                    q=sql.Literal(float(q)), c=sql.Identifier(column)
                )
            )
            names.append((column, "quantile", float(q)))
    query = sql.SQL(
        "select {cols} from {t} where as_of_date in "
        "(select distinct as_of_date from {t} where as_of_date < %s order by as_of_date desc limit %s) "
        "group by as_of_date"
    ).format(cols=sql.SQL(", ").join(parts), t=_split(table))
    cur.execute(query, (as_of_date, snapshots))
    rows = []
    for values in cur.fetchall():
        rows.append({name: (None if v is None else float(v)) for name, v in zip(names, values, strict=True)})
    return rows


def _history_from_results(cur: Any, table: str, as_of_date: date, snapshots: int) -> list[dict]:
    """The same statistics as _history, read from earlier gate results (cheap: no scan of the mart).

    Uses the newest stored result of each mean/quantile expectation for each of the newest `snapshots`
    snapshots before as_of_date.
    """
    cur.execute(
        "select distinct on (batch_key, expectation_type, column_name) batch_key, expectation_type, "
        "column_name, observed_value from audit.data_quality_results "
        "where stage = 'features' and table_name = %(t)s and success is not null and observed_value is not null "
        "and expectation_type in ('expect_column_mean_to_be_between', 'expect_column_quantiles_to_be_between') "
        "and batch_key in (select distinct batch_key from audit.data_quality_results "
        "  where stage = 'features' and table_name = %(t)s and batch_key < %(d)s "
        "  order by batch_key desc limit %(n)s) "
        "order by batch_key, expectation_type, column_name, validated_at desc",
        {"t": table, "d": as_of_date.isoformat(), "n": snapshots},
    )
    by_snapshot: dict[str, dict] = {}
    for batch_key, expectation_type, column, observed in cur.fetchall():
        row = by_snapshot.setdefault(batch_key, {})
        if expectation_type == "expect_column_mean_to_be_between" and isinstance(observed, int | float):
            row[(column, "mean", None)] = float(observed)
        elif isinstance(observed, dict):
            for q, v in zip(observed.get("quantiles", []), observed.get("values", []), strict=False):
                if v is not None:
                    row[(column, "quantile", float(q))] = float(v)
    return list(by_snapshot.values())


def _learned(values: list[float], k_sd: float, min_rel_width: float) -> list[float]:
    centre = statistics.fmean(values)
    half = max(k_sd * statistics.stdev(values), min_rel_width * abs(centre))
    return [centre - half, centre + half]


def _band(fixed: list | None, history: list[dict], key: tuple, cfg: dict[str, Any]) -> list | None:
    """A [min, max] band: learned from history when there is enough of it, else the fixed one."""
    if cfg.get("source", "config") == "history":
        values = [row[key] for row in history if row.get(key) is not None]
        if len(values) >= max(2, int(cfg.get("min_snapshots", 7))):
            return _learned(values, float(cfg.get("k_sd", 4)), float(cfg.get("min_rel_width", 0.05)))
    return list(fixed) if fixed is not None else None


def feature_parameters(cur: Any, table: str, as_of_date: date) -> dict[str, Any]:
    """Values for the feature suite: volume against the previous snapshot and distribution bands."""
    quality = load_config("quality")
    cfg = quality.get("distribution", {})
    bands: dict[str, Any] = cfg.get("bands", {})
    for column in bands:
        identifier(column, "quality.yml: distribution band column")
    previous = _previous_snapshot_rows(cur, table, as_of_date)
    history: list[dict] = []
    if cfg.get("source") == "history" and bands:
        # earlier gate results first; the first days (e.g. after the initial load) scan the mart instead
        snapshots = int(cfg.get("snapshots", 30))
        history = _history_from_results(cur, table, as_of_date, snapshots)
        if len(history) < int(cfg.get("min_snapshots", 7)):
            history = _history(cur, table, as_of_date, bands, snapshots)
    params: dict[str, Any] = {
        **volume_bounds(previous, _volume_settings("features", table)),
        "previous_snapshot_rows": previous,
        "history_snapshots": len(history),
        "bureau_score_non_null_min": cfg.get("bureau_score_non_null_min"),
    }
    for column, band in bands.items():
        mean = _band(band.get("mean"), history, (column, "mean", None), cfg)
        params[f"mean_{column}_min"], params[f"mean_{column}_max"] = mean if mean else (None, None)
        quantiles = sorted((float(q), r) for q, r in (band.get("quantiles") or {}).items())
        ranges = [_band(r, history, (column, "quantile", q), cfg) for q, r in quantiles]
        params[f"quantiles_{column}"] = (
            {"quantiles": [q for q, _ in quantiles], "value_ranges": ranges} if quantiles else None
        )
    return params


def ratings_parameters() -> dict[str, Any]:
    """Values for the ratings suite, from the master scale in config/rating_scale.yml."""
    scale = load_config("rating_scale")
    grades = scale["grades"]
    scaling = scale.get("score_scaling", {})

    def literal(grade: dict) -> str:
        name = str(grade["grade"]).replace("'", "''")
        return f"('{name}', {float(grade['pd_lower'])!r}::float8, {float(grade['pd_upper'])!r}::float8)"

    values = ", ".join(literal(g) for g in grades)
    return {
        "grades": [g["grade"] for g in grades],
        "score_min": scaling.get("min_score"),
        "score_max": scaling.get("max_score"),
        "master_scale": values,
    }
