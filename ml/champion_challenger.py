"""Realised performance of @champion and the shadow-scored @challenger, side by side on live data.

Reads the challenger's shadow scores (model_shadow.scores), the champion's published ratings of the
same customers and dates (ratings.customer_rating_versions) and the matured default labels
(marts.customer_default_labels). Only rows whose 12-month horizon has passed count; rows rated D by
rule (already in default) are left out, as in training. Both versions are measured on exactly the same
rows, so the difference is the models', not the samples'.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from common.config import load_config
from common.warehouse import WAREHOUSE, column_names, connection_url, one_row, transaction
from ml.evaluate import discrimination

PAIRED_SQL = """
select
    s.as_of_date,
    s.model_version as challenger_version,
    r.model_version as champion_version,
    s.pd_12m as challenger_pd,
    r.pd_12m as champion_pd,
    l.default_flag::int as default_flag
from model_shadow.scores as s
inner join ratings.customer_rating_versions as r
    on r.customer_id = s.customer_id
    and daterange(r.valid_from_date, r.valid_to_date) @> s.as_of_date
inner join marts.customer_default_labels as l
    on l.customer_id = s.customer_id and l.as_of_date = s.as_of_date
where s.model_name = %(name)s
    and s.rating_grade <> 'D' and r.rating_grade <> 'D'
    and s.as_of_date >= coalesce(%(since)s, '-infinity'::date)
    and s.as_of_date <= coalesce(%(until)s, 'infinity'::date)
"""

PENDING_SQL = """
select s.model_version, count(*) as rows, count(distinct s.as_of_date) as dates,
    min(s.as_of_date) as first_date, max(s.as_of_date) as last_date
from model_shadow.scores as s
where s.model_name = %(name)s
    and not exists (
        select 1 from marts.customer_default_labels as l
        where l.customer_id = s.customer_id and l.as_of_date = s.as_of_date
    )
group by 1 order by 1
"""

METRICS = ("auc", "gini", "ks", "brier", "mean_pd", "default_rate", "calibration_ratio")


def paired_rows(
    name: str, since: date | None = None, until: date | None = None, url: str | None = None
) -> pd.DataFrame:
    """One row per shadow-scored customer and date with a matured label: both PDs and the outcome."""
    with transaction(url or connection_url(WAREHOUSE)) as cur:
        cur.execute("select to_regclass('marts.customer_default_labels') is not null")
        if not one_row(cur)[0]:
            return pd.DataFrame(columns=["as_of_date", "challenger_version", "champion_version"])
        cur.execute(PAIRED_SQL, {"name": name, "since": since, "until": until})
        return pd.DataFrame(cur.fetchall(), columns=column_names(cur))


def pending(name: str, url: str | None = None) -> pd.DataFrame:
    """Shadow rows per challenger version still waiting for their labels."""
    with transaction(url or connection_url(WAREHOUSE)) as cur:
        cur.execute("select to_regclass('marts.customer_default_labels') is not null")
        if not one_row(cur)[0]:
            cur.execute(
                "select model_version, count(*) as rows, count(distinct as_of_date) as dates, "
                "min(as_of_date) as first_date, max(as_of_date) as last_date from model_shadow.scores "
                "where model_name = %(name)s group by 1 order by 1",
                {"name": name},
            )
        else:
            cur.execute(PENDING_SQL, {"name": name})
        return pd.DataFrame(cur.fetchall(), columns=column_names(cur))


def side_by_side(rows: pd.DataFrame, min_rows: int | None = None) -> list[dict[str, Any]]:
    """Per (challenger version, champion version) pair: rows, dates and both versions' metrics on them.

    Metrics are None for a pair with fewer than `min_rows` rows or without both outcomes.
    """
    if min_rows is None:
        min_rows = int(load_config("model").get("shadow", {}).get("min_labelled_rows", 100))
    out: list[dict[str, Any]] = []
    if rows.empty:
        return out
    for (chal, champ), part in rows.groupby(["challenger_version", "champion_version"], sort=True):
        y = part["default_flag"].to_numpy(dtype=int)
        enough = len(part) >= min_rows and len(np.unique(y)) == 2
        entry: dict[str, Any] = {
            "challenger_version": str(chal),
            "champion_version": str(champ),
            "rows": int(len(part)),
            "defaults": int(y.sum()),
            "dates": int(part["as_of_date"].nunique()),
            "first_date": str(part["as_of_date"].min()),
            "last_date": str(part["as_of_date"].max()),
            "champion": discrimination(y, part["champion_pd"].to_numpy(dtype=float)) if enough else None,
            "challenger": discrimination(y, part["challenger_pd"].to_numpy(dtype=float)) if enough else None,
        }
        out.append(entry)
    return out


def format_table(pairs: list[dict[str, Any]], waiting: pd.DataFrame) -> str:
    """The model owner's view: one block per pair, metrics side by side with the difference."""
    lines = []
    for p in pairs:
        lines.append(
            f"challenger v{p['challenger_version']} vs champion v{p['champion_version']}: {p['rows']} matured "
            f"rows, {p['defaults']} defaults, {p['dates']} rated dates {p['first_date']}..{p['last_date']}"
        )
        if p["champion"] is None:
            lines.append(
                "  too few matured rows (or one outcome only) to measure: see shadow.min_labelled_rows"
            )
            continue
        lines.append(f"  {'metric':<20}{'champion':>12}{'challenger':>12}{'difference':>12}")
        for k in METRICS:
            a, b = p["champion"][k], p["challenger"][k]
            lines.append(f"  {k:<20}{a:>12.4f}{b:>12.4f}{b - a:>12.4f}")
    if not pairs:
        lines.append("no shadow-scored rows with matured labels yet")
    for _, w in waiting.iterrows():
        lines.append(
            f"awaiting labels: v{w['model_version']} {int(w['rows'])} rows on {int(w['dates'])} dates "
            f"({w['first_date']}..{w['last_date']})"
        )
    return "\n".join(lines)
