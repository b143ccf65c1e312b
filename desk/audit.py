"""The desk's audit trail: one row per request it served or refused (who, when, what, why)."""

from __future__ import annotations

import json
from typing import Any

import psycopg2.extensions

from desk.queries import queries


def record(
    cur: psycopg2.extensions.cursor,
    *,
    actor: str,
    role: str | None,
    action: str,
    outcome: str,
    target: str | None = None,
    why: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction (so an action and its audit commit together)."""
    cur.execute(
        queries("desk")["insert_audit"],
        {
            "actor": actor,
            "role": role,
            "action": action,
            "target": target,
            "why": why,
            "outcome": outcome,
            "detail": json.dumps(detail or {}, default=str),
        },
    )
