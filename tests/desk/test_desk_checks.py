"""POST /v1/credit-checks on a running desk: pass, refer and block with their reasons, every check recorded."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from common.pseudonym import set_config_statement, sql_expression
from common.warehouse import transaction
from tests.helpers.desk import Customer, add_warning, issue_tokens, run_sql, seed_book
from tests.helpers.sql import fetch

GOOD = Customer("ACC-GOOD", current_limit=100_000, open_receivables=20_000)
FULL = Customer("ACC-FULL", current_limit=100_000, open_receivables=95_000)
HOLD = Customer("ACC-HOLD", grade="D", pd=1.0, decision="hold", current_limit=50_000)
REVIEW = Customer("ACC-REVIEW", grade="B", pd=0.08, decision="review", current_limit=200_000)
WARNED = Customer("ACC-WARN", current_limit=100_000, open_receivables=0)
NEW = Customer("ACC-NEW", current_limit=None, recommended_limit=30_000, open_receivables=0)
PENDING = Customer("ACC-PEND", current_limit=100_000, open_receivables=0)
STALE = Customer("ACC-STALE", current_limit=100_000, open_receivables=0)
BOOK = [GOOD, FULL, HOLD, REVIEW, WARNED, NEW, PENDING]


@pytest.fixture(scope="module")
def sales(desk) -> str:
    seed_book(desk.url, BOOK)
    # STALE was rated three weeks ago only: its version ends before the latest rated date
    seed_book(desk.url, [STALE], as_of=date.today() - timedelta(days=21))
    run_sql(desk.url, "update ratings.customer_rating_versions set valid_to_date = current_date - 20"
                    " where customer_id = %s", (STALE.customer_id,))
    add_warning(desk.url, WARNED)
    return issue_tokens(desk.url, {"sam": "sales"})["sam"]


def check(desk, token: str, customer: Customer, amount: float, currency: str = "EUR", ref: str = "SO-1") -> dict:
    with desk.client(token) as client:
        response = client.post("/v1/credit-checks", json={"account_id": customer.account_id, "amount": amount,
                                                           "currency": currency, "order_ref": ref})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_order_within_the_limit_passes_and_is_recorded_with_its_reason(desk, sales) -> None:
    result = check(desk, sales, GOOD, 10_000, ref="SO-100")
    assert result["outcome"] == "pass"
    assert "Within the current credit limit" in result["reasons"][0]
    assert result["customer_id"] == GOOD.customer_id and result["rating_grade"] == "A"
    stored = fetch(desk.url, "select outcome, amount_eur, requested_by, order_ref, exposure_eur from desk.credit_checks"
                             " where check_id = %s", (result["check_id"],))
    assert stored == [("pass", 10_000, "sam", "SO-100", 20_000)]
    audit = fetch(desk.url, "select actor, role, action, outcome, target from desk.audit_log where target = %s",
                  (f"check:{result['check_id']}",))
    assert audit == [("sam", "sales", "check.create", "pass", f"check:{result['check_id']}")]


def test_an_order_over_the_limit_is_referred_and_opens_a_case(desk, sales) -> None:
    result = check(desk, sales, FULL, 10_000, ref="SO-200")
    assert result["outcome"] == "refer"
    assert any("exceeds the current credit limit 100,000.00 EUR" in r for r in result["reasons"])
    case = fetch(desk.url, "select source, customer_id, status, owner from desk.cases where case_id = %s",
                 (result["case_id"],))
    assert case == [("check", FULL.customer_id, "open", "credit-team-standard")]


def test_far_over_the_limit_blocks(desk, sales) -> None:
    result = check(desk, sales, FULL, 60_000)
    assert result["outcome"] == "block"
    assert any("more than 1.5 x the current credit limit" in r for r in result["reasons"])


def test_a_hold_decision_in_default_blocks_with_both_reasons(desk, sales) -> None:
    result = check(desk, sales, HOLD, 100)
    assert result["outcome"] == "block"
    text = " ".join(result["reasons"])
    assert "decision is 'hold'" in text and "Rating grade D" in text


def test_a_review_decision_refers(desk, sales) -> None:
    result = check(desk, sales, REVIEW, 100)
    assert result["outcome"] == "refer" and "decision is 'review'" in " ".join(result["reasons"])


def test_an_open_critical_warning_refers_with_the_warning_in_words(desk, sales) -> None:
    result = check(desk, sales, WARNED, 100)
    assert result["outcome"] == "refer"
    assert "Open critical early warning: Invoices 60+ days past due" in result["reasons"]


def test_a_new_customer_is_checked_against_the_recommended_limit_in_eur(desk, sales) -> None:
    result = check(desk, sales, NEW, 20_000, currency="USD")  # 18,400 EUR
    assert (result["outcome"], result["amount_eur"], result["limit_source"]) == ("pass", "18400.00",
                                                                                  "recommended limit")
    result = check(desk, sales, NEW, 20_000, currency="GBP")  # 23,400 EUR on top of 18,400 pending
    assert result["outcome"] == "refer" and result["exposure_before_eur"] == "18400.00"


def test_passed_checks_count_as_exposure_until_invoiced(desk, sales) -> None:
    assert check(desk, sales, PENDING, 60_000)["outcome"] == "pass"
    second = check(desk, sales, PENDING, 60_000)
    assert second["outcome"] == "refer" and second["exposure_before_eur"] == "60000.00"


def test_a_stale_rating_is_not_relied_on(desk, sales) -> None:
    result = check(desk, sales, STALE, 100)
    assert result["outcome"] == "refer"
    assert any("out of date" in r for r in result["reasons"])


def test_a_blocked_customer_is_blocked(desk, sales) -> None:
    blocked = Customer("ACC-BLOCKED")
    seed_book(desk.url, [blocked])
    run_sql(desk.url, "insert into desk.customer_blocks (customer_id, reason, created_by) values (%s, %s, 'mia')",
          (blocked.customer_id, "Fraud suspicion"))
    result = check(desk, sales, blocked, 100)
    assert result["outcome"] == "block"
    assert "Customer is blocked for new orders: Fraud suspicion" in result["reasons"]


def test_the_python_pseudonym_equals_what_the_dbt_macro_computes_in_postgresql(desk) -> None:
    statement, settings = set_config_statement()
    with transaction(desk.url) as cur:
        cur.execute(statement, settings)
        cur.execute(f"select {sql_expression('%s')}", (GOOD.account_id,))
        assert cur.fetchall() == [(GOOD.customer_id,)]
