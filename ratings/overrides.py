"""Limit overrides from the credit desk flow into the next publish: the override wins until it expires.

The desk (desk/) writes desk.limit_overrides; publishing reads it here, so ratings never imports the
service. An override is active on a rated date D when its status is `active` and
valid_from <= D < expires_on; the newest one wins when several overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import psycopg2.extensions

from ratings.queries import queries


@dataclass(frozen=True)
class ActiveOverride:
    """An approved limit override holding on a rated date."""

    customer_id: str
    override_id: int
    override_limit: Decimal
    valid_from: date
    expires_on: date


def active_overrides(cur: psycopg2.extensions.cursor, as_of_date: date) -> dict[str, ActiveOverride]:
    """The override that holds on as_of_date for each customer that has one (customer_id -> override)."""
    cur.execute(queries("overrides")["active_overrides"], {"d": as_of_date})
    return {row[0]: ActiveOverride(*row) for row in cur.fetchall()}


def apply_limit_overrides(cur: psycopg2.extensions.cursor, as_of_date: date, run_id: str) -> int:
    """Replace the recommended limit of run_id's staged rows by each active override; returns the rows changed.

    Called inside the publishing transaction, before the staged rows become versions, so a rerun of
    the date applies the overrides that hold then, and an expired override simply stops applying.
    """
    cur.execute(queries("overrides")["apply_to_stage"], {"d": as_of_date, "run": run_id})
    return max(cur.rowcount, 0)
