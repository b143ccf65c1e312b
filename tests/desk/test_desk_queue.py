"""The review queue: cases from decisions, critical warnings and referred checks; closing them; limit
overrides with four eyes, flowing into the next publish and into monitoring."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from common.paths import REPO_ROOT
from ratings.overrides import active_overrides, apply_limit_overrides
from tests.helpers.desk import Customer, add_warning, as_desk_service, issue_tokens, run_sql, seed_book
from tests.helpers.gates import stage_ratings
from tests.helpers.sql import fetch

REVIEW = Customer("ACC-Q-REVIEW", grade="B", pd=0.07, decision="review")
HOLD = Customer("ACC-Q-HOLD", grade="D", pd=1.0, decision="hold")
MANAGED = Customer("ACC-Q-MANAGED", grade="CCC", pd=0.2, decision="review")
WARNED = Customer("ACC-Q-WARN")
CALM = Customer("ACC-Q-CALM")
USERS = {"ana": "credit_analyst", "bob": "credit_analyst", "mia": "credit_manager", "max": "credit_manager",
         "sam": "sales"}


def load_managers(desk, path: Path, text: str) -> subprocess.CompletedProcess:
    """`python -m desk managers --file` as desk_service, on a CRM export written to path."""
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "desk", "managers", "--file", str(path), "--user", "crm-sync"],
                          cwd=REPO_ROOT, env={**os.environ, "DESK_WAREHOUSE_URL": as_desk_service(desk.url)},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def tokens(desk, tmp_path_factory) -> dict[str, str]:
    seed_book(desk.url, [REVIEW, HOLD, MANAGED, WARNED, CALM])
    add_warning(desk.url, WARNED)
    add_warning(desk.url, CALM, severity="warning", rule="UTIL_90", message="Limit use above 90%")
    # the CRM's account manager of MANAGED, loaded the way a deployment does it
    loaded = load_managers(desk, tmp_path_factory.mktemp("crm") / "managers.csv",
                           f"account_id,manager\n{MANAGED.account_id},lena.am\n")
    assert loaded.returncode == 0, loaded.stderr
    return issue_tokens(desk.url, USERS)


def test_managers_export_refuses_bad_rows_and_writes_nothing(desk, tokens, tmp_path) -> None:
    before = fetch(desk.url, "select customer_id, manager from desk.account_managers order by 1")
    assert before == [(MANAGED.customer_id, "lena.am")]
    bad = load_managers(desk, tmp_path / "bad.csv", f"account_id,manager\n{REVIEW.account_id},tom.am\n"
                        f"bad id;drop,tom.am\n{HOLD.account_id},\n{REVIEW.account_id},ida.am\n")
    assert bad.returncode != 0
    assert "3 bad row(s), nothing loaded" in bad.stderr
    assert "line 3: not a CRM account id" in bad.stderr and "line 4: manager must be" in bad.stderr
    assert "line 5: ACC-Q-REVIEW already has manager 'tom.am' (line 2)" in bad.stderr
    no_header = load_managers(desk, tmp_path / "nohead.csv", "account,owner\nACC-1,x\n")
    assert no_header.returncode != 0 and "the header lacks account_id, manager" in no_header.stderr
    assert fetch(desk.url, "select customer_id, manager from desk.account_managers order by 1") == before
    audits = fetch(desk.url, "select actor, outcome, detail->>'rows' from desk.audit_log where action = 'managers.load'")
    assert audits == [("crm-sync", "ok", "1")]


def post(desk, token: str, path: str, body: dict | None = None):
    with desk.client(token) as client:
        return client.post(path, json=body)


def case_of(desk, customer: Customer, source: str) -> tuple:
    rows = fetch(desk.url, "select case_id, owner, due_date, status from desk.cases where customer_id = %s"
                           " and source = %s", (customer.customer_id, source))
    assert len(rows) == 1, rows
    return rows[0]


def test_sync_opens_cases_for_review_hold_and_critical_warnings_once(desk, tokens) -> None:
    first = post(desk, tokens["ana"], "/v1/cases/sync").json()
    assert first == {"decision_cases_opened": 3, "warning_cases_opened": 1}
    assert post(desk, tokens["ana"], "/v1/cases/sync").json() == {"decision_cases_opened": 0,
                                                                   "warning_cases_opened": 0}
    today = date.today()
    # owner: the CRM's account manager, else the segment's credit team; due: review frequency, capped
    assert case_of(desk, MANAGED, "decision")[1:] == ("lena.am", today + timedelta(days=30), "open")
    assert case_of(desk, REVIEW, "decision")[1] == "credit-team-watchlist"
    _, owner, due, _ = case_of(desk, HOLD, "decision")  # monthly review, within the 30-day cap
    expected = fetch(desk.url, "select least((current_date + interval '1 month')::date, current_date + 30)")[0][0]
    assert (owner, due) == ("credit-team-collections", expected)
    assert case_of(desk, WARNED, "warning")[1:3] == ("credit-team-standard", today + timedelta(days=5))
    assert fetch(desk.url, "select count(*) from desk.cases where customer_id = %s", (CALM.customer_id,)) == [(0,)]


def test_the_queue_lists_open_cases_by_due_date(desk, tokens) -> None:
    with desk.client(tokens["ana"]) as client:
        cases = client.get("/v1/cases").json()
    dues = [c["due_date"] for c in cases]
    assert dues == sorted(dues) and {c["status"] for c in cases} == {"open"}


def test_closing_needs_a_known_outcome_and_reason_code_and_closes_once(desk, tokens) -> None:
    case_id = case_of(desk, REVIEW, "decision")[0]
    bad = post(desk, tokens["ana"], f"/v1/cases/{case_id}/close", {"outcome": "shrug", "reason_code": "STRATEGIC"})
    assert bad.status_code == 422 and "unknown outcome 'shrug'" in bad.json()["error"]
    bad = post(desk, tokens["ana"], f"/v1/cases/{case_id}/close", {"outcome": "confirm", "reason_code": "BECAUSE"})
    assert bad.status_code == 422 and "unknown reason_code" in bad.json()["error"]
    ok = post(desk, tokens["ana"], f"/v1/cases/{case_id}/close",
              {"outcome": "confirm", "reason_code": "RISK_CONFIRMED", "note": "Payment plan too weak"})
    assert ok.status_code == 200
    assert fetch(desk.url, "select status, closed_by, outcome, reason_code, note from desk.cases where case_id = %s",
                 (case_id,)) == [("closed", "ana", "confirm", "RISK_CONFIRMED", "Payment plan too weak")]
    again = post(desk, tokens["ana"], f"/v1/cases/{case_id}/close", {"outcome": "confirm", "reason_code": "STRATEGIC"})
    assert again.status_code == 409
    why = fetch(desk.url, "select why from desk.audit_log where action = 'case.close' and target = %s"
                          " and outcome = 'confirm'", (f"case:{case_id}",))
    assert why == [("RISK_CONFIRMED: Payment plan too weak",)]


def test_a_small_override_is_active_at_once_and_needs_a_reason(desk, tokens) -> None:
    case_id = case_of(desk, MANAGED, "decision")[0]
    no_reason = post(desk, tokens["ana"], f"/v1/cases/{case_id}/close",
                     {"outcome": "override_limit", "reason_code": "COLLATERAL", "override_limit": 80000})
    assert no_reason.status_code == 422 and "needs a note" in no_reason.json()["error"]
    assert fetch(desk.url, "select count(*) from desk.limit_overrides") == [(0,)]
    ok = post(desk, tokens["ana"], f"/v1/cases/{case_id}/close",
              {"outcome": "override_limit", "reason_code": "COLLATERAL", "override_limit": 80000,
               "note": "Bank guarantee of 80k received"}).json()
    assert ok["override"]["status"] == "active" and not ok["override"]["four_eyes"]
    # the credit check now uses the override as the limit
    sales = issue_tokens(desk.url, {"sid": "sales"})["sid"]
    check = post(desk, sales, "/v1/credit-checks", {"account_id": MANAGED.account_id, "amount": 10, "currency": "EUR"})
    assert check.json()["limit_source"] == "limit override" and check.json()["credit_limit"] == "80000.00"


def test_a_large_override_needs_a_second_approver_who_is_not_the_requester(desk, tokens) -> None:
    case_id = case_of(desk, WARNED, "warning")[0]
    result = post(desk, tokens["mia"], f"/v1/cases/{case_id}/close",
                  {"outcome": "override_limit", "reason_code": "STRATEGIC", "override_limit": 500000,
                   "note": "Board approved the strategic account", "override_expires_on":
                       (date.today() + timedelta(days=30)).isoformat()}).json()
    override_id = result["override"]["override_id"]
    assert result["override"]["status"] == "pending_approval" and result["override"]["four_eyes"]
    assert active_override_ids(desk) == {1}  # the pending one does not apply yet
    path = f"/v1/overrides/{override_id}/decision"
    assert post(desk, tokens["ana"], path, {"approve": True, "reason": "ok"}).status_code == 403  # analyst
    selfie = post(desk, tokens["mia"], path, {"approve": True, "reason": "ok"})
    assert selfie.status_code == 403 and "four eyes" in selfie.json()["error"]
    assert post(desk, tokens["max"], path, {"approve": True, "reason": "Checked the board minutes"}).json() == {
        "override_id": override_id, "status": "active"}
    assert post(desk, tokens["max"], path, {"approve": True, "reason": "again"}).status_code == 409
    assert fetch(desk.url, "select approved_by, status from desk.limit_overrides where override_id = %s",
                 (override_id,)) == [("max", "active")]
    assert active_override_ids(desk) == {1, override_id}


def active_override_ids(desk) -> set[int]:
    from common.warehouse import transaction

    with transaction(desk.url) as cur:
        return {o.override_id for o in active_overrides(cur, date.today()).values()}


def test_overrides_win_in_the_next_publish_until_they_expire(desk, tokens) -> None:
    today = date.today()
    run_sql(desk.url, "delete from ratings_stage.customer_ratings")
    stage_ratings(desk.url, today, run_id="run-o", n=1, customer_id=MANAGED.customer_id,
                  recommended_credit_limit=40000)
    stage_ratings(desk.url, today, run_id="run-o", n=1, customer_id=CALM.customer_id, recommended_credit_limit=7000)
    from common.warehouse import transaction

    with transaction(desk.url) as cur:
        assert apply_limit_overrides(cur, today, "run-o") == 1
    rows = dict(fetch(desk.url, "select customer_id, recommended_credit_limit from ratings_stage.customer_ratings"
                                " where run_id = 'run-o'"))
    assert rows == {MANAGED.customer_id: 80000, CALM.customer_id: 7000}
    rationale = fetch(desk.url, "select decision_rationale from ratings_stage.customer_ratings where customer_id = %s",
                      (MANAGED.customer_id,))[0][0]
    assert "overridden on the credit desk" in rationale
    # on a date after the expiry, the recommendation stands again
    expires = fetch(desk.url, "select expires_on from desk.limit_overrides where customer_id = %s",
                    (MANAGED.customer_id,))[0][0]
    stage_ratings(desk.url, expires, run_id="run-late", n=1, customer_id=MANAGED.customer_id,
                  recommended_credit_limit=40000)
    with transaction(desk.url) as cur:
        assert apply_limit_overrides(cur, expires, "run-late") == 0


def test_override_rate_by_grade_is_monitored(desk, tokens) -> None:
    rates = {r[0]: r[1:] for r in fetch(desk.url, "select rating_grade, customers, customers_with_active_override,"
                                                  " override_rate from ratings.override_rate_by_grade")}
    ccc = rates["CCC"]
    assert ccc[1] == 1 and ccc[2] == pytest.approx(ccc[1] / ccc[0])
    assert rates["D"][1] == 0


def test_a_referred_order_released_on_its_case_counts_as_exposure(desk, tokens) -> None:
    big = Customer("ACC-Q-BIG", current_limit=10_000, open_receivables=9_000)
    seed_book(desk.url, [big])
    referred = post(desk, tokens["sam"], "/v1/credit-checks",
                    {"account_id": big.account_id, "amount": 2000, "currency": "EUR"}).json()
    assert referred["outcome"] == "refer"
    post(desk, tokens["ana"], f"/v1/cases/{referred['case_id']}/close",
         {"outcome": "release_order", "reason_code": "PAYMENT_PLAN", "note": "Prepayment agreed"})
    assert fetch(desk.url, "select status from desk.credit_checks where check_id = %s",
                 (referred["check_id"],)) == [("approved",)]
    nxt = post(desk, tokens["sam"], "/v1/credit-checks", {"account_id": big.account_id, "amount": 1, "currency": "EUR"})
    assert nxt.json()["exposure_before_eur"] == "11000.00"


def test_a_block_on_a_case_blocks_the_next_check_and_a_manager_lifts_it(desk, tokens) -> None:
    case_id = case_of(desk, HOLD, "decision")[0]
    post(desk, tokens["ana"], f"/v1/cases/{case_id}/close",
         {"outcome": "block", "reason_code": "RISK_CONFIRMED", "note": "Insolvency filed"})
    check = post(desk, tokens["sam"], "/v1/credit-checks", {"account_id": HOLD.account_id, "amount": 1,
                                                            "currency": "EUR"}).json()
    assert "Customer is blocked for new orders: Insolvency filed" in check["reasons"]
    assert post(desk, tokens["ana"], f"/v1/customers/{HOLD.account_id}/block/lift",
                {"reason": "x"}).status_code == 403
    assert post(desk, tokens["mia"], f"/v1/customers/{HOLD.account_id}/block/lift",
                {"reason": "Administrator pays"}).status_code == 200
