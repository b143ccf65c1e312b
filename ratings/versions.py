"""Ratings as versions: publish one rated date into ratings.customer_rating_versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg2.extensions

from common.warehouse import one_row
from ratings.queries import queries
from ratings.staging import StageResult

OPEN_END = date(9999, 12, 31)  # valid_to_date of a version that still holds on the latest rated date

# The interval-map update at D, in order, with the sign of each statement's row count in the number of
# versions (an insert adds versions, a delete or a merge into a neighbour removes them).
_STEPS = [
    ("rerun_takes_new_run", 0),
    ("split_after", 1),
    ("split_before", 0),
    ("drop_starting_at_d", -1),
    ("analyze_versions", 0),
    ("merge_left", -1),
    ("merge_right", -1),
    ("insert_new", 1),
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
    ratings.rated_dates (replacing the run of a rerun). Intraday versions (ratings.intraday) are
    lifted first and put back afterwards unless their date is now rated: the daily run supersedes them.
    """
    sql = queries("versions")
    params = {"d": as_of_date, "run": run_id}
    cur.execute(sql["lift_intraday"])
    cur.execute(sql["staged_summary"], params)
    rows, scored_at, scored_max, model_name, name_max, model_version, version_max = one_row(cur)
    if rows != staged.rows:
        raise RuntimeError(f"staged {staged.rows} ratings for {as_of_date} but found {rows} to publish")
    if (scored_at, model_name, model_version) != (scored_max, name_max, version_max):
        raise RuntimeError(
            f"the staged ratings of run {run_id} must share one scored_at and one model version"
        )
    cur.execute(sql["following_rated_date"], params)
    following = cur.fetchone()
    params |= {
        "next": following[0] if following else OPEN_END,
        "next_run": following[1] if following else None,
        "next_scored_at": following[2] if following else None,
    }
    cur.execute(
        sql["record_rated_date"],
        params
        | {
            "scored_at": scored_at,
            "model_name": model_name,
            "model_version": model_version,
            "rows": rows,
        },
    )
    cur.execute(sql["work_tables"])
    cur.execute(sql["diff"], params)
    cur.execute(sql["diff_counts"])
    changed, rerun = one_row(cur)
    added = 0
    for name, sign in _STEPS:
        cur.execute(sql[name], params)
        added += sign * max(cur.rowcount, 0)
    cur.execute(sql["reapply_intraday"])
    return VersionStats(changed=int(changed), rerun=int(rerun), versions_added=added)
