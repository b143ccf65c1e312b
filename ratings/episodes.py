"""Warning episodes: the daily rule hits kept as runs of rated dates (ratings/sql/episodes.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg2.extensions

from common.warehouse import column_names, one_row
from ratings.queries import queries


@dataclass(frozen=True)
class EpisodeCounts:
    """What publishing one date did to the warning episodes."""

    opened: int  # new episodes starting at the date
    initial: int  # episodes of the first rated date: conditions already present, not news
    continued: int
    resolved: int


def rebuild_episodes(cur: psycopg2.extensions.cursor, as_of_date: date, run_id: str) -> EpisodeCounts:
    """Set the episodes around as_of_date to the hits run_id staged for it and the stored runs.

    Call inside the publishing transaction, after D's model_monitoring row is written and before the
    run's stage is cleared. Episodes keep their warning_id while their first_seen_date stays the same.
    """
    sql = queries("episodes")
    cur.execute(sql["neighbours"], {"d": as_of_date})
    rated, prev, nxt = one_row(cur)
    if not rated:  # the rebuild numbers the rated dates: D must be one, or its runs would be lost
        raise ValueError(
            f"{as_of_date} is not a rated date (no ratings.model_monitoring row): no episodes rebuilt"
        )
    params = {"d": as_of_date, "run": run_id, "prev": prev or date.min, "next": nxt or date.max}
    cur.execute(sql["work_tables"])
    cur.execute(sql["rebuild"], params)
    cur.execute(sql["counts"], params)
    opened, initial, continued, resolved = one_row(cur)
    return EpisodeCounts(int(opened), int(initial), int(continued), int(resolved))


def episodes_opened(
    cur: psycopg2.extensions.cursor, as_of_date: date, severity: str = "critical"
) -> list[dict]:
    """New (not initial) episodes of a severity that opened on as_of_date, first_seen_date as ISO."""
    cur.execute(queries("episodes")["opened_on"], {"d": as_of_date, "severity": severity})
    names = column_names(cur)
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["first_seen_date"] = r["first_seen_date"].isoformat()
    return rows


def opened_counts(
    cur: psycopg2.extensions.cursor, as_of_date: date, severity: str = "critical"
) -> tuple[int, int]:
    """(new, initial) episodes of a severity that opened on as_of_date."""
    cur.execute(queries("episodes")["opened_counts"], {"d": as_of_date, "severity": severity})
    new, initial = one_row(cur)
    return int(new), int(initial)
