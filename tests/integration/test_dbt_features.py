"""The dbt feature marts on crafted raw rows: history build, data tests, labels, PII, reruns.

The raw-row helpers here are shared by the other test_dbt_* modules."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from common.config import load_config
from common.transform import build_history, build_snapshot
from common.warehouse import transaction

UTC = dt.UTC
DATA_END = dt.date(2024, 7, 15)  # the last day of crafted data
PII_COLUMNS = {"legal_name", "tax_id", "first_name", "last_name", "email", "phone"}
RAW_TABLES = {
    "accounts": "raw_crm", "contacts": "raw_crm", "activities": "raw_crm", "tickets": "raw_crm",
    "opportunities": "raw_crm", "invoices": "raw_finance", "payments": "raw_finance",
    "credit_limits": "raw_finance", "credit_notes": "raw_finance", "disputes": "raw_finance",
    "default_events": "raw_finance", "bureau_ratings": "raw_finance",
}


def at(day: dt.date, hour: int = 10) -> dt.datetime:
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
    for table, rows in scenario().items():
        insert_raw(url, table, rows)


def fetch(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with transaction(url) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def feature_rows(url: str, as_of_date: dt.date | None = None) -> list[tuple]:
    where = "where as_of_date = %s" if as_of_date else ""
    params = (as_of_date,) if as_of_date else ()
    return fetch(url, f"select * from marts.customer_features {where} order by customer_id, as_of_date", params)


def feature_names() -> list[str]:
    return [f["name"] for f in load_config("features")["features"]]


def snapshot_dates(url: str) -> list[dt.date]:
    return [r[0] for r in fetch(url, "select distinct as_of_date from marts.customer_features order by 1")]


HISTORY_AS_OF = dt.date(2024, 6, 30)


@pytest.fixture(scope="module")
def history_warehouse(admin_url: str) -> Iterator[str]:
    """One warehouse for the module: crafted raw rows and a history build (every data test runs)."""
    from common.migrate import migrate
    from tests.conftest import create_database, drop_database

    name = f"t_dbt_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    try:
        migrate(url)
        load_scenario(url)
        build_history(HISTORY_AS_OF, recent_days=2, history_start_date="2023-05-01", conn_id_or_url=url)
        yield url
    finally:
        drop_database(admin_url, name)


def test_history_build_passes_data_tests_with_one_row_per_active_customer(history_warehouse):
    dates = snapshot_dates(history_warehouse)
    assert dates[0] == dt.date(2023, 5, 31) and dates[-2:] == [dt.date(2024, 6, 29), HISTORY_AS_OF]
    assert len(dates) == 15  # 14 month ends + 2024-06-29
    rows = fetch(history_warehouse, "select customer_id, in_default, credit_limit from marts.customer_features "
                                    "where as_of_date = %s", (HISTORY_AS_OF,))
    assert len(rows) == 5  # A5 closed in April 2024
    assert len({r[0] for r in rows}) == 5
    assert all(len(r[0]) == 32 and not r[0].startswith("A") for r in rows)  # pseudonymous
    assert sum(r[1] for r in rows) == 1  # A6 defaulted in April/June 2024
    assert all(r[2] is not None for r in rows)
    columns = [r[0] for r in fetch(history_warehouse, "select column_name from information_schema.columns where "
                                   "table_schema = 'marts' and table_name = 'customer_features' order by ordinal_position")]
    assert columns == ["customer_id", "as_of_date", *feature_names()]


def test_daily_rerun_of_a_history_date_leaves_identical_rows(history_warehouse):
    before = feature_rows(history_warehouse)
    build_snapshot(HISTORY_AS_OF, conn_id_or_url=history_warehouse)
    build_snapshot(HISTORY_AS_OF, conn_id_or_url=history_warehouse)
    assert feature_rows(history_warehouse) == before


def test_labels_exist_only_for_mature_snapshots_and_flag_defaults_in_the_horizon(history_warehouse):
    labels = fetch(history_warehouse, "select as_of_date, horizon_end_date, label_cutoff_date, "
                                      "sum(default_flag), count(*) from marts.customer_default_labels "
                                      "group by 1, 2, 3 order by 1")
    cutoff = fetch(history_warehouse, "select max(updated_at)::date from (select updated_at from raw_finance.invoices "
                                      "union all select updated_at from raw_finance.default_events) u")[0][0]
    assert [r[0] for r in labels] == [dt.date(2023, 5, 31), dt.date(2023, 6, 30)]  # + 12 months <= cutoff
    assert all(r[1] <= cutoff and r[2] == cutoff for r in labels)
    # A6 defaults in April 2024 (inside both horizons), A5 in September 2023
    assert [int(r[3]) for r in labels] == [2, 2]
    features = fetch(history_warehouse, "select count(*) from marts.customer_features "
                                        "where as_of_date in ('2023-05-31', '2023-06-30')")[0][0]
    assert sum(r[4] for r in labels) == features
    assert fetch(history_warehouse, "select count(*) from marts.customer_default_labels "
                                    "where as_of_date + interval '12 months' > %s", (cutoff,))[0][0] == 0


def test_pii_stays_in_staging(history_warehouse):
    found = fetch(history_warehouse, "select table_schema, table_name, column_name from information_schema.columns "
                                     "where table_schema in ('intermediate', 'marts', 'seeds', 'ratings') "
                                     "and column_name = any(%s)", (list(PII_COLUMNS),))
    assert found == []
    in_staging = fetch(history_warehouse, "select count(*) from information_schema.columns "
                                          "where table_schema = 'staging' and column_name = any(%s)",
                       (list(PII_COLUMNS),))
    assert in_staging[0][0] > 0  # the check looks for the right names


def test_the_limit_history_answers_what_the_credit_limit_was_on_a_day(history_warehouse):
    # L2b started on 2024-02-01 at 50,000 USD and was corrected to 30,000 USD on 2024-02-15
    def limit_on(day: dt.date) -> list[tuple]:
        return fetch(history_warehouse, "select credit_limit, valid_from from staging.stg_finance__credit_limit_history"
                                        " where limit_id = 'L2b' and valid_from_date <= %s and %s < valid_to_date"
                                        " and known_since_date <= %s", (day, day, day))
    assert limit_on(dt.date(2024, 1, 31)) == []
    assert limit_on(dt.date(2024, 2, 14)) == [(Decimal("50000.00"), dt.date(2024, 2, 1))]
    assert limit_on(dt.date(2024, 2, 15)) == [(Decimal("30000.00"), dt.date(2024, 2, 1))]
    assert limit_on(DATA_END) == [(Decimal("30000.00"), dt.date(2024, 2, 1))]
