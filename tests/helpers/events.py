"""Credit events for the re-rating tests: a source row per event, and its message."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from common.warehouse import transaction


def active_accounts(warehouse_url: str, n: int) -> list[str]:
    """n CRM accounts rated on the book's date (active, known to the warehouse, never in default: a
    written-off or credit-stopped account has left the rating population), in a fixed order."""
    with transaction(warehouse_url) as cur:
        cur.execute(
            "select distinct a.account_id from raw_crm.accounts as a where a.status = 'active'"
            " and not exists (select 1 from raw_finance.default_events as e where e.customer_id = a.account_id)"
            " order by a.account_id limit %s",
            (n,),
        )
        return [r[0] for r in cur.fetchall()]


def message(event_type: str, account_id: str, occurred_at: dt.datetime, source_key: str | None = None,
            event_id: str | None = None) -> str:
    """The JSON a source system publishes for one event."""
    return json.dumps({
        "event_id": event_id or f"ev-{uuid.uuid4().hex[:12]}",
        "event_type": event_type,
        "account_id": account_id,
        "source_key": source_key,
        "occurred_at": occurred_at.isoformat(),
        "published_at": dt.datetime.now(dt.UTC).isoformat(),
    })


def add_default_event(finance_url: str, account_id: str, at: dt.datetime, kind: str = "insolvency") -> str:
    """An insolvency (default event) of the account at `at` in the finance source; returns its message."""
    key = f"DEF-{uuid.uuid4().hex[:10]}"
    with transaction(finance_url) as cur:
        cur.execute(
            "insert into finance.default_events (event_id, customer_id, event_date, event_type, created_at,"
            " updated_at) values (%s, %s, %s, %s, %s, %s)",
            (key, account_id, at.date(), kind, at, at),
        )
    return message("default_event", account_id, at, key)


def add_bureau_downgrade(finance_url: str, account_id: str, at: dt.datetime, score: int = 120) -> str:
    """A bureau rating of the account at `at` with a low score; returns its message."""
    key = f"BUR-{uuid.uuid4().hex[:10]}"
    with transaction(finance_url) as cur:
        cur.execute(
            "insert into finance.bureau_ratings (rating_id, customer_id, agency, rating, score, rating_date,"
            " created_at, updated_at) values (%s, %s, 'creditreform', 'C', %s, %s, %s, %s)",
            (key, account_id, score, at.date(), at, at),
        )
    return message("bureau_downgrade", account_id, at, key)
