"""Bad input gets a clear 4xx with a message, never a 500 and never a partial write."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.desk import Customer, issue_tokens, seed_book
from tests.helpers.sql import fetch

KNOWN = Customer("ACC-KNOWN")
COUNTS = ("select (select count(*) from desk.credit_checks), (select count(*) from desk.cases),"
          " (select count(*) from ratings.customer_rating_versions)")


@pytest.fixture(scope="module")
def token(desk) -> str:
    seed_book(desk.url, [KNOWN])
    return issue_tokens(desk.url, {"sam": "sales"})["sam"]


def post(desk, token: str, content: bytes | str, headers: dict | None = None) -> httpx.Response:
    with desk.client(token) as client:
        return client.post("/v1/credit-checks", content=content,
                           headers={"content-type": "application/json", **(headers or {})})


@pytest.mark.parametrize(("body", "status", "message"), [
    ('{"account_id": "ACC-NOBODY", "amount": 10, "currency": "EUR"}', 404, "unknown customer"),
    ('{"account_id": "ACC-KNOWN", "amount": -5, "currency": "EUR"}', 422, "amount: Input should be greater than 0"),
    ('{"account_id": "ACC-KNOWN", "amount": 0, "currency": "EUR"}', 422, "amount: Input should be greater than 0"),
    ('{"account_id": "ACC-KNOWN", "amount": 1.234, "currency": "EUR"}', 422, "amount"),
    ('{"account_id": "ACC-KNOWN", "amount": "ten", "currency": "EUR"}', 422, "amount"),
    ('{"account_id": "ACC-KNOWN", "amount": 10, "currency": "XYZ"}', 422, "unknown currency 'XYZ'"),
    ('{"account_id": "ACC-KNOWN", "amount": 10, "currency": "eur"}', 422, "currency"),
    ('{"account_id": "ACC-KNOWN", "amount": 10}', 422, "currency: Field required"),
    ('{"account_id": "ACC-KNOWN", "amount": 10, "currency": "EUR", "discount": 5}', 422, "discount"),
    ('{"account_id": "x\' or 1=1; drop table desk.cases; --", "amount": 10, "currency": "EUR"}', 422,
     "account_id: String should match pattern"),
    ('{"account_id": "ACC-KNOWN", "amount": 10, "currency": "EUR"', 400, "malformed JSON body"),
    ("not json at all", 400, "malformed JSON body"),
    ("[1, 2, 3]", 422, "invalid request"),
])
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(desk, token, body: str, status: int, message: str) -> None:
    before = fetch(desk.url, COUNTS)
    response = post(desk, token, body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"] + str(response.json().get("details", ""))
    assert fetch(desk.url, COUNTS) == before


def test_an_oversize_body_is_refused_with_413_before_it_is_parsed(desk, token) -> None:
    before = fetch(desk.url, COUNTS)
    huge = '{"account_id": "ACC-KNOWN", "amount": 10, "currency": "EUR", "order_ref": "' + "x" * 50_000 + '"}'
    response = post(desk, token, huge)
    assert response.status_code == 413 and "larger than 16384 bytes" in response.json()["error"]

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(40):
            yield b" " * 1024

    with desk.client(token) as client:
        streamed = client.post("/v1/credit-checks", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert fetch(desk.url, COUNTS) == before


def test_bad_path_and_query_values_are_4xx(desk, token) -> None:
    analyst = issue_tokens(desk.url, {"ana": "credit_analyst"})["ana"]
    with desk.client(analyst) as client:
        assert client.post("/v1/cases/not-a-number/close", json={}).status_code == 422
        assert client.post("/v1/cases/999999/close", json={"outcome": "confirm", "reason_code": "RISK_CONFIRMED"}
                           ).status_code == 404
        assert client.get("/v1/credit-checks", params={"account_id": "bad id!"}).status_code == 422
        assert client.get("/v1/customers/ACC-NOBODY").status_code == 404
        assert client.get("/v1/cases", params={"status": "pending"}).status_code == 422


def test_the_refused_requests_are_in_the_audit_log(desk, token) -> None:
    post(desk, token, '{"account_id": "ACC-NOBODY", "amount": 10, "currency": "EUR"}')
    rows = fetch(desk.url, "select actor, outcome, why from desk.audit_log where action = 'check.create'"
                           " and outcome like 'refused%%' order by audit_id desc limit 1")
    assert rows == [("sam", "refused 404", "unknown customer: no rating is published for this account id")]
