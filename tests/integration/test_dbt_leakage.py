"""No leakage: facts that change, or become known, after the snapshot date leave that snapshot unchanged."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from common.transform import build_snapshot
from tests.helpers.crafted_raw import at, feature_rows, insert_raw, load_scenario, scenario


def _mutations_after(day: dt.date) -> dict[str, list[dict]]:
    """New versions after `day`, back-dated rows created after `day`, and events after `day`."""
    later = day + dt.timedelta(days=1)
    base = {table: {r[next(iter(r))]: r for r in rows} for table, rows in scenario().items()}
    open_invoice = next(r for r in base["invoices"].values() if r["customer_id"] == "A6"
                        and dt.date(2024, 1, 1) <= r["issue_date"] < day)
    limit = base["credit_limits"]["L3b"]
    return {
        "invoices": [
            {**open_invoice, "status": "paid", "updated_at": at(later)},  # paid after D
            {**open_invoice, "status": "cancelled", "updated_at": at(later, 18)},  # then cancelled
            {**open_invoice, "invoice_id": "LATE-1", "issue_date": day - dt.timedelta(days=40),  # back-dated
             "due_date": day - dt.timedelta(days=10), "created_at": at(later), "updated_at": at(later)},
            {**open_invoice, "invoice_id": "FUT-1", "issue_date": later, "due_date": later + dt.timedelta(30),
             "created_at": at(later), "updated_at": at(later)},
        ],
        "payments": [{"payment_id": "LATE-P", "invoice_id": open_invoice["invoice_id"], "payment_date": day,
                      "amount": open_invoice["amount"], "currency": open_invoice["currency"],
                      "created_at": at(later), "updated_at": at(later)}],
        "credit_notes": [{"credit_note_id": "CN-LATE", "invoice_id": open_invoice["invoice_id"],
                          "customer_id": "A6", "issue_date": day, "amount": Decimal(100), "currency": "EUR",
                          "reason": "goodwill", "created_at": at(later), "updated_at": at(later)}],
        "accounts": [{**base["accounts"]["A2"], "status": "closed", "industry": "hospitality", "updated_at": at(later)},
                     {**base["accounts"]["A2"], "account_id": "A9", "created_at": at(day - dt.timedelta(100)),
                      "updated_at": at(later)}],
        "credit_limits": [{**limit, "credit_limit": Decimal(1), "updated_at": at(later)},
                          {**limit, "limit_id": "L-LATE", "valid_from": day - dt.timedelta(5),
                           "created_at": at(later), "updated_at": at(later)}],
        # T6-5 opened 2024-04-20 and closes 2024-06-13; a back-dated closure recorded after D
        "tickets": [{**base["tickets"]["T6-5"], "closed_at": at(day - dt.timedelta(2)), "updated_at": at(later)},
                    {**base["tickets"]["T6-5"], "ticket_id": "T-LATE", "category": "complaint",
                     "opened_at": at(day), "closed_at": None, "created_at": at(later), "updated_at": at(later)}],
        "default_events": [{"event_id": "E-LATE", "customer_id": "A1", "event_date": day - dt.timedelta(3),
                            "event_type": "write_off", "created_at": at(later), "updated_at": at(later)}],
        "bureau_ratings": [{"rating_id": "B-LATE", "customer_id": "A1", "agency": "experian", "rating": "C",
                            "score": 50, "rating_date": day, "created_at": at(later), "updated_at": at(later)}],
        "activities": [{"activity_id": "ACT-LATE", "account_id": "A1", "activity_type": "call",
                        "activity_at": at(day), "outcome": "negative", "created_at": at(later),
                        "updated_at": at(later)}],
        "disputes": [{**base["disputes"]["D6"], "status": "resolved", "resolved_date": day - dt.timedelta(1),
                      "updated_at": at(later)}],
        "opportunities": [{"opportunity_id": "O-LATE", "account_id": "A1", "amount": Decimal(99999),
                           "currency": "EUR", "stage": "won", "created_at": at(later), "closed_at": at(day),
                           "updated_at": at(later)}],
    }


def test_facts_changed_or_known_after_the_date_leave_the_snapshot_unchanged(warehouse_url):
    load_scenario(warehouse_url)
    day = dt.date(2024, 5, 31)
    build_snapshot(day, conn_id_or_url=warehouse_url)
    before = feature_rows(warehouse_url, day)
    assert len(before) == 5
    for table, rows in _mutations_after(day).items():
        insert_raw(warehouse_url, table, rows)
    build_snapshot(day, conn_id_or_url=warehouse_url)
    assert feature_rows(warehouse_url, day) == before
    # the same changes do show in the next day's snapshot, so a leak would have been seen
    next_day = day + dt.timedelta(days=1)
    build_snapshot(next_day, conn_id_or_url=warehouse_url)
    after = feature_rows(warehouse_url, next_day)
    assert {r[0] for r in after} != {r[0] for r in before}  # A2 closed, A9 opened
    changed = sum(1 for b in before for a in after if a[0] == b[0] and a[2:] != b[2:])
    assert changed >= 3  # A1 (default, bureau, activity, won order), A3 (limit), A6 (invoice, dispute)
