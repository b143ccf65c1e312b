"""The analysts' pages in a real headless browser (Debian's chromium through chromium-driver): sign in,
the queue, the customer page with its PD/grade chart; a screenshot is kept as a test artifact."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.helpers.desk import Customer, add_warning, issue_tokens, run_sql, seed_book

TODAY = date.today()
WATCHED = Customer("ACC-WEB", grade="CCC", pd=0.21, decision="review", current_limit=40_000,
                   recommended_limit=20_000, reason_codes=["PAY02", "EXP02"],
                   history=[(TODAY - timedelta(days=90), 0.004, "A"), (TODAY - timedelta(days=45), 0.03, "BB")])


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):  # not a skip: the feature is tested, so a missing browser is an error
        pytest.fail("Debian's chromium and chromium-driver are needed: run `make desk-browser-deps`")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1800"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


def shown(browser: webdriver.Chrome, by: str, value: str):
    """The element once the page that follows a click has rendered it (at most 20 s)."""
    return WebDriverWait(browser, 20).until(expected_conditions.presence_of_element_located((by, value)))


@pytest.fixture(scope="module")
def signed_in(desk, browser) -> webdriver.Chrome:
    seed_book(desk.url, [WATCHED])
    add_warning(desk.url, WATCHED)
    analyst = issue_tokens(desk.url, {"ana.web": "credit_analyst"})["ana.web"]
    sales = issue_tokens(desk.url, {"sam.web": "sales"})["sam.web"]
    with desk.client(analyst) as client:
        client.post("/v1/cases/sync")
    with desk.client(sales) as client:
        client.post("/v1/credit-checks", json={"account_id": WATCHED.account_id, "amount": 1500, "currency": "EUR",
                                               "order_ref": "SO-WEB-1"})
    browser.get(f"{desk.base}/")
    assert browser.current_url.endswith("/login")  # no cookie yet: sent to sign in
    browser.find_element(By.ID, "token").send_keys(analyst)
    browser.find_element(By.ID, "sign-in").click()
    shown(browser, By.ID, "queue")
    return browser


def test_the_queue_lists_the_open_cases_after_sign_in(desk, signed_in) -> None:
    rows = signed_in.find_elements(By.CSS_SELECTOR, "#queue tr.case")
    text = " ".join(r.text for r in rows)
    assert "ana.web (credit_analyst)" in signed_in.find_element(By.TAG_NAME, "header").text
    assert "Credit decision review at grade CCC" in text and "Early warning (critical) DPD_60" in text
    assert "Referred order SO-WEB-1" in text


def test_the_customer_page_shows_history_chart_reasons_warnings_limits_and_checks(desk, signed_in,
                                                                                   tmp_path: Path) -> None:
    signed_in.find_element(By.NAME, "account_id").send_keys(WATCHED.account_id)
    signed_in.find_element(By.CSS_SELECTOR, "header form button").click()
    shown(signed_in, By.ID, "grade")
    assert signed_in.current_url.endswith(f"/customers/{WATCHED.customer_id}")
    assert signed_in.find_element(By.ID, "grade").text == "CCC"
    labels = [t.text for t in signed_in.find_elements(By.CSS_SELECTOR, "svg.pd-chart text.grade")]
    assert labels == ["A", "BB", "CCC"]  # one point per rating version, in date order
    reasons = signed_in.find_element(By.ID, "reasons").text
    assert "Payment delays in the last 3 months" in reasons and "High use of the credit limit" in reasons
    assert "Invoices 60+ days past due" in signed_in.find_element(By.ID, "warnings").text
    limits = signed_in.find_elements(By.CSS_SELECTOR, "#limits tbody tr")
    assert len(limits) == 3 and "20000" in limits[0].text
    assert "SO-WEB-1" in signed_in.find_element(By.ID, "checks").text
    shot = tmp_path / "desk-customer-page.png"
    assert signed_in.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("DESK_SCREENSHOT_TO_DOCS"):  # refresh the runbook's picture when asked to
        docs = Path(__file__).resolve().parents[2] / "docs" / "images"
        docs.mkdir(exist_ok=True)
        shutil.copy(shot, docs / "desk-customer-page.png")


def test_a_sales_token_cannot_open_the_analyst_pages(desk, browser) -> None:
    sales_user = issue_tokens(desk.url, {"sid.web": "sales"})["sid.web"]
    browser.delete_all_cookies()
    browser.get(f"{desk.base}/login")
    browser.find_element(By.ID, "token").send_keys(sales_user)
    browser.find_element(By.ID, "sign-in").click()
    assert shown(browser, By.ID, "error").text == "role sales may not case.read"
    run_sql(desk.url, "update desk.api_tokens set revoked_at = now() where user_name = 'sid.web'")
