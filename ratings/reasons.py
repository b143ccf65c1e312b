"""The reason dictionary for BI: config/reason_codes.yml published as ratings.reason_codes.

A reason code on a rating names a characteristic that pushed this customer's risk up (see
docs/models.md), so every code's direction is `increases_risk` unless the dictionary says otherwise.
"""

from __future__ import annotations

from typing import Any

import psycopg2.extensions

from common.config import load_config
from ratings.queries import queries

DIRECTIONS = ("increases_risk", "decreases_risk")


def reason_rows(config: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """One row per code: reason_code, reason_text, feature, direction, version (checked)."""
    config = config or load_config("reason_codes")
    rows = []
    for code, entry in sorted((config.get("codes") or {}).items()):
        direction = str(entry.get("direction", "increases_risk"))
        if direction not in DIRECTIONS:
            raise ValueError(f"reason_codes.yml: {code} direction {direction!r} is not one of {DIRECTIONS}")
        if not entry.get("text") or not entry.get("feature"):
            raise ValueError(f"reason_codes.yml: {code} needs a text and a feature")
        rows.append(
            {
                "code": str(code),
                "text": str(entry["text"]),
                "feature": str(entry["feature"]),
                "direction": direction,
                "version": str(config.get("version", "1")),
            }
        )
    return rows


def publish_reason_codes(cur: psycopg2.extensions.cursor) -> int:
    """Replace ratings.reason_codes with the dictionary (inside the publishing transaction)."""
    sql = queries("publish")
    rows = reason_rows()
    cur.execute(sql["clear_reason_codes"])
    cur.executemany(sql["insert_reason_code"], rows)
    return len(rows)
