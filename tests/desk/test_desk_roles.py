"""Roles: each role does what its list says and nothing more (proved against the running service), tokens
are stored hashed, every action and refusal is audited, and the desk's database role writes only desk.*."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import psycopg2
import pytest

from desk.auth import ROLE_ACTIONS, ROLES
from tests.helpers.desk import Customer, as_desk_service, issue_tokens, run_sql, seed_book
from tests.helpers.roles import can
from tests.helpers.sql import fetch

ACCOUNT = Customer("ACC-ROLES", current_limit=10_000_000, open_receivables=0)
# Every endpoint of the API with the action it needs (method, path, JSON body).
ENDPOINTS = {
    "check.create": ("POST", "/v1/credit-checks", {"account_id": "ACC-ROLES", "amount": 1, "currency": "EUR"}),
    "check.read": ("GET", "/v1/credit-checks?account_id=ACC-ROLES", None),
    "check.close": ("POST", "/v1/credit-checks/987654/close", {"reason": "invoiced"}),
    "case.read": ("GET", "/v1/cases", None),
    "case.sync": ("POST", "/v1/cases/sync", None),
    "case.close": ("POST", "/v1/cases/987654/close", {"outcome": "confirm", "reason_code": "RISK_CONFIRMED"}),
    "override.approve": ("POST", "/v1/overrides/987654/decision", {"approve": True, "reason": "ok"}),
    "block.lift": ("POST", "/v1/customers/ACC-ROLES/block/lift", {"reason": "paid"}),
    "customer.read": ("GET", "/v1/customers/ACC-ROLES", None),
    "audit.read": ("GET", "/v1/audit", None),
}


@pytest.fixture(scope="module")
def tokens(desk) -> dict[str, str]:
    seed_book(desk.url, [ACCOUNT])
    return issue_tokens(desk.url)


def test_every_action_a_role_can_hold_has_an_endpoint_in_this_matrix() -> None:
    granted = set().union(*ROLE_ACTIONS.values()) - {"override.request"}  # requested by closing a case
    assert granted == set(ENDPOINTS)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(ENDPOINTS))
def test_a_role_can_do_exactly_what_its_list_says(desk, tokens, role: str, action: str) -> None:
    method, path, body = ENDPOINTS[action]
    with desk.client(tokens[role]) as client:
        response = client.request(method, path, json=body)
    if action in ROLE_ACTIONS[role]:
        assert response.status_code not in (401, 403, 500), (role, action, response.text)
    else:
        assert response.status_code == 403, (role, action, response.text)
        assert response.json()["error"] == f"role {role} may not {action}"
        denied = fetch(desk.url, "select actor, outcome from desk.audit_log where action = %s and actor = %s"
                                 " and outcome = 'denied'", (action, role))
        assert denied


def test_sales_cannot_override_a_limit_by_closing_a_case(desk, tokens) -> None:
    with desk.client(tokens["sales"]) as client:
        response = client.post("/v1/cases/1/close", json={"outcome": "override_limit", "reason_code": "STRATEGIC",
                                                          "note": "x", "override_limit": 1})
    assert response.status_code == 403
    assert fetch(desk.url, "select count(*) from desk.limit_overrides") == [(0,)]


def test_no_token_or_an_unknown_or_revoked_token_is_401(desk, tokens) -> None:
    with desk.client() as client:
        assert client.get("/v1/cases").status_code == 401
    with desk.client("not-a-token") as client:
        assert client.get("/v1/cases").status_code == 401
    revoked = issue_tokens(desk.url, {"leaver": "credit_manager"})["leaver"]
    run_sql(desk.url, "update desk.api_tokens set revoked_at = now() where user_name = 'leaver'")
    with desk.client(revoked) as client:
        assert client.get("/v1/cases").status_code == 401
    assert fetch(desk.url, "select count(*) from desk.audit_log where actor = 'unauthenticated'")[0][0] >= 3


def test_tokens_are_stored_only_as_sha256(desk, tokens) -> None:
    stored = {row[0]: row[1] for row in fetch(desk.url, "select user_name, token_sha256 from desk.api_tokens")}
    for user, token in tokens.items():
        assert stored[user] == hashlib.sha256(token.encode()).hexdigest()
    dump = str(fetch(desk.url, "select * from desk.api_tokens")) + str(fetch(desk.url, "select * from desk.audit_log"))
    assert not any(token in dump for token in tokens.values())


def test_every_served_action_is_audited_with_who_what_and_why(desk, tokens) -> None:
    with desk.client(tokens["sales"]) as client:
        result = client.post("/v1/credit-checks", json={"account_id": "ACC-ROLES", "amount": 5, "currency": "EUR",
                                                        "order_ref": "SO-AUDIT"}).json()
    row = fetch(desk.url, "select actor, role, action, why, outcome, at is not null from desk.audit_log"
                          " where target = %s", (f"check:{result['check_id']}",))
    assert row == [("sales", "sales", "check.create", "SO-AUDIT", "pass", True)]


@pytest.fixture
def desk_db(desk) -> Iterator[psycopg2.extensions.connection]:
    from common.warehouse import connect

    run_sql(desk.url, "create schema if not exists marts")
    run_sql(desk.url, "create table if not exists marts.probe (x int)")
    conn = connect(as_desk_service(desk.url))
    yield conn
    conn.close()


@pytest.mark.parametrize(("statement", "allowed"), [
    ("select * from ratings.current_customer_ratings", True),
    ("select * from ratings.override_rate_by_grade", True),
    ("insert into desk.cases (customer_id, source, source_key, title, owner, due_date)"
     " values ('c', 'check', 'k', 't', 'o', current_date)", True),
    ("insert into desk.audit_log (actor, action, outcome) values ('a', 'b', 'c')", True),
    ("update desk.audit_log set why = 'rewritten'", False),
    ("delete from desk.audit_log", False),
    ("delete from desk.credit_checks", False),
    ("update ratings.customer_rating_versions set decision = 'approve'", False),
    ("insert into ratings.rated_dates (as_of_date, run_id, scored_at, model_name, model_version, rows_published)"
     " values (current_date + 1, 'x', now(), 'm', '1', 0)", False),
    ("select * from marts.probe", False),
    ("select * from raw_crm.accounts", False),
    ("create table desk.mine (x int)", False),
    ("truncate desk.cases", False),
])
def test_the_desk_role_reads_ratings_and_writes_only_its_own_schema(desk_db, statement: str, allowed: bool) -> None:
    assert can(desk_db, statement) is allowed
