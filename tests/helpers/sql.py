"""Reading a test database: one query, all its rows."""

from __future__ import annotations

from common.warehouse import transaction


def fetch(url: str, query: str, params: tuple = ()) -> list[tuple]:
    """All rows of one query on the database at `url`."""
    with transaction(url) as cur:
        cur.execute(query, params)
        return cur.fetchall()
