"""Crafted raw rows for the dbt tests: six accounts from mid-2022 to DATA_END with every kind of fact."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from common.warehouse import transaction
from tests.helpers.sql import fetch

UTC = dt.UTC
DATA_END = dt.date(2024, 7, 15)  # the last day of crafted data
RAW_TABLES = {
    "accounts": "raw_crm", "contacts": "raw_crm", "activities": "raw_crm", "tickets": "raw_crm",
    "opportunities": "raw_crm", "invoices": "raw_finance", "payments": "raw_finance",
    "credit_limits": "raw_finance", "credit_notes": "raw_finance", "disputes": "raw_finance",
    "default_events": "raw_finance", "bureau_ratings": "raw_finance",
}


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    """That day at that hour, UTC."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def insert_raw(url: str, table: str, rows: list[dict]) -> None:
    """Insert source rows into raw_<source>.<table>, as the extraction of their updated_at day would."""
    if not rows:
        return
    with transaction(url) as cur:
        for row in rows:
            updated = row["updated_at"]
            batch = {
                "_batch_id": f"test-{table}-{updated:%Y%m%d}",
                "_extracted_at": updated + dt.timedelta(hours=14),
                "_interval_start": at(updated.date(), 0),
                "_interval_end": at(updated.date() + dt.timedelta(days=1), 0),
            }
            values = {**row, **batch}
            columns = ", ".join(values)
            marks = ", ".join(["%s"] * len(values))
            cur.execute(f"insert into {RAW_TABLES[table]}.{table} ({columns}) values ({marks})", list(values.values()))


def _month_days(first: dt.date, last: dt.date, day: int) -> list[dt.date]:
    out, year, month = [], first.year, first.month
    while True:
        candidate = dt.date(year, month, day)
        if candidate > last:
            return out
        if candidate >= first:
            out.append(candidate)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def scenario() -> dict[str, list[dict]]:
    """A small, deterministic history: 6 accounts from mid-2022 to DATA_END with every kind of fact.

    Payment profiles: account n pays (n - 2) * 12 days after the due date, account 6 stops paying in
    2024 and defaults; invoices change status (open -> paid) in a later version, one limit is corrected
    after the fact, one account closes, one dispute gets resolved, tickets get closed.
    """
    rng = random.Random(7)
    rows: dict[str, list[dict]] = {name: [] for name in RAW_TABLES}
    for n in range(1, 7):
        acc = f"A{n}"
        created = dt.date(2022, 6, 1) + dt.timedelta(days=40 * n)
        account = {
            "account_id": acc, "legal_name": f"Company {n} GmbH", "tax_id": f"DE{n:09d}",
            "industry": ["retail", "construction", "it_services"][n % 3], "region": ["north", "south"][n % 2],
            "size_band": ["small", "medium", "large"][n % 3], "status": "active",
            "created_at": at(created), "updated_at": at(created),
        }
        rows["accounts"].append(account)
        if n == 5:  # closes in April 2024
            rows["accounts"].append({**account, "status": "closed", "updated_at": at(dt.date(2024, 4, 10))})
        rows["contacts"].append({
            "contact_id": f"C{n}", "account_id": acc, "first_name": "Anna", "last_name": f"Muster{n}",
            "email": f"anna{n}@example.com", "phone": "+49 30 1234", "created_at": at(created),
            "updated_at": at(created),
        })
        limit_day = created + dt.timedelta(days=10)
        rows["credit_limits"].append({
            "limit_id": f"L{n}a", "customer_id": acc, "credit_limit": Decimal(20000 * n), "currency": "EUR",
            "valid_from": limit_day, "approver": "a.keller", "created_at": at(limit_day), "updated_at": at(limit_day),
        })
        raise_day = dt.date(2024, 2, 1)
        rows["credit_limits"].append({
            "limit_id": f"L{n}b", "customer_id": acc, "credit_limit": Decimal(25000 * n), "currency": "USD",
            "valid_from": raise_day, "approver": "b.rossi", "created_at": at(raise_day), "updated_at": at(raise_day),
        })
        if n == 2:  # the raise is corrected downwards two weeks later
            rows["credit_limits"].append({
                **rows["credit_limits"][-1], "credit_limit": Decimal(30000), "updated_at": at(raise_day + dt.timedelta(14)),
            })
        late_days = (n - 2) * 12
        for k, issue in enumerate(_month_days(max(created, dt.date(2023, 1, 1)), DATA_END, 5)):
            inv = f"I{n}-{k:03d}"
            due = issue + dt.timedelta(days=30)
            amount = Decimal(rng.randrange(1000, 5000))
            currency = "GBP" if (n + k) % 5 == 0 else "EUR"
            invoice = {
                "invoice_id": inv, "customer_id": acc, "issue_date": issue, "due_date": due, "amount": amount,
                "currency": currency, "status": "open", "created_at": at(issue), "updated_at": at(issue),
            }
            rows["invoices"].append(invoice)
            if k == 3 and n == 3:  # cancelled a week after issue
                rows["invoices"].append({**invoice, "status": "cancelled", "updated_at": at(issue + dt.timedelta(7))})
                continue
            paid = due + dt.timedelta(days=late_days)
            if n == 6 and issue >= dt.date(2024, 1, 1):
                continue  # stops paying
            if paid > DATA_END:
                continue
            partial = n == 4 and k % 4 == 0
            if partial:  # a credit note covers 10 % of it
                credit = (amount * Decimal("0.1")).quantize(Decimal("0.01"))
                rows["credit_notes"].append({
                    "credit_note_id": f"CN{n}-{k}", "invoice_id": inv, "customer_id": acc, "issue_date": paid,
                    "amount": credit, "currency": currency, "reason": "discount", "created_at": at(paid),
                    "updated_at": at(paid),
                })
                amount = amount - credit
            rows["payments"].append({
                "payment_id": f"P{n}-{k}", "invoice_id": inv, "payment_date": paid, "amount": amount,
                "currency": currency, "created_at": at(paid, 12), "updated_at": at(paid, 12),
            })
            rows["invoices"].append({**invoice, "status": "paid", "updated_at": at(paid, 13)})
        for k, day in enumerate(_month_days(created, DATA_END, 12)):
            rows["activities"].append({
                "activity_id": f"ACT{n}-{k}", "account_id": acc, "activity_type": ["call", "meeting", "email"][k % 3],
                "activity_at": at(day, 9), "outcome": ["positive", "neutral", "negative", "no_answer"][(k + n) % 4],
                "created_at": at(day, 9), "updated_at": at(day, 9),
            })
        for k, day in enumerate(_month_days(dt.date(2023, 1, 1), DATA_END, 20)[n % 3::3]):
            ticket = {
                "ticket_id": f"T{n}-{k}", "account_id": acc, "category": ["complaint", "question", "incident"][k % 3],
                "severity": 1 + (k + n) % 4, "opened_at": at(day), "closed_at": None, "created_at": at(day),
                "updated_at": at(day),
            }
            rows["tickets"].append(ticket)
            closed = day + dt.timedelta(days=9 * n)
            if closed <= DATA_END:
                rows["tickets"].append({**ticket, "closed_at": at(closed), "updated_at": at(closed)})
        for k, day in enumerate(_month_days(dt.date(2023, 2, 1), DATA_END, 25)[::4]):
            opp = {
                "opportunity_id": f"O{n}-{k}", "account_id": acc, "amount": Decimal(10000 + 1000 * k),
                "currency": "CHF" if k % 2 else "EUR", "stage": "open", "created_at": at(day), "closed_at": None,
                "updated_at": at(day),
            }
            rows["opportunities"].append(opp)
            won = day + dt.timedelta(days=20)
            if won <= DATA_END:
                rows["opportunities"].append({**opp, "stage": "won" if (k + n) % 2 else "lost", "closed_at": at(won),
                                              "updated_at": at(won)})
        for k, day in enumerate(_month_days(dt.date(2023, 1, 1), DATA_END, 1)[::3]):
            rows["bureau_ratings"].append({
                "rating_id": f"B{n}-{k}", "customer_id": acc, "agency": "experian", "rating": "BB",
                "score": 700 - 40 * n + (k * 7) % 30, "rating_date": day, "created_at": at(day), "updated_at": at(day),
            })
        if n in (3, 6):
            opened = dt.date(2024, 3, 3) if n == 3 else dt.date(2023, 11, 11)
            dispute = {
                "dispute_id": f"D{n}", "invoice_id": f"I{n}-002", "customer_id": acc, "opened_date": opened,
                "resolved_date": None, "amount": Decimal(800), "currency": "EUR", "status": "open",
                "created_at": at(opened), "updated_at": at(opened),
            }
            rows["disputes"].append(dispute)
            if n == 3:
                resolved = dt.date(2024, 5, 2)
                rows["disputes"].append({**dispute, "status": "resolved", "resolved_date": resolved,
                                         "updated_at": at(resolved)})
    for event_id, acc, day in (("E1", "A6", dt.date(2024, 4, 15)), ("E2", "A6", dt.date(2024, 6, 20)),
                               ("E3", "A5", dt.date(2023, 9, 1))):
        rows["default_events"].append({
            "event_id": event_id, "customer_id": acc, "event_date": day, "event_type": "dpd90",
            "created_at": at(day + dt.timedelta(2)), "updated_at": at(day + dt.timedelta(2)),
        })
    return rows


def load_scenario(url: str) -> None:
    """Insert the whole scenario into the raw tables."""
    for table, rows in scenario().items():
        insert_raw(url, table, rows)


def feature_rows(url: str, as_of_date: dt.date | None = None) -> list[tuple]:
    """marts.customer_features (of one date, if given), in key order."""
    where = "where as_of_date = %s" if as_of_date else ""
    params = (as_of_date,) if as_of_date else ()
    return fetch(url, f"select * from marts.customer_features {where} order by customer_id, as_of_date", params)


def snapshot_dates(url: str) -> list[dt.date]:
    """The snapshot dates in marts.customer_features, oldest first."""
    return [r[0] for r in fetch(url, "select distinct as_of_date from marts.customer_features order by 1")]
