"""The dashboard shipped as code works in a real Apache Superset (.venv-bi) over a real warehouse.

One Superset per module, started the way `make bi` starts it (bi.serve: BI views built by dbt, the login
bi_superset in role bi_reader, the bundle imported, the web server up), over a synthetic rated book. Then:
every chart renders without error in headless Chromium (a screenshot is kept in test-artifacts/), and each
chart's query, run through Superset's chart-data API, gives the figure a direct SQL query on the same view
gives.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from bi import serve
from bi.bundle import EXPORT_DIR
from common.migrate import migrate
from common.paths import REPO_ROOT
from common.warehouse import transaction
from devtools.scratch import create_database, drop_database
from tests.helpers.bi_book import write_bi_book
from tests.helpers.sql import fetch

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO_ROOT / "test-artifacts"))
CHARTS = {yaml.safe_load(p.read_text(encoding="utf-8"))["slice_name"]: p for p in (EXPORT_DIR / "charts").glob("*.yaml")}
# One figure per chart, straight from the view it reads: the sum over the chart's rows of its first metric
# (of its column, for the histogram).
LATEST_MONTH = "month = (select max(month) from ratings.grade_migration_monthly)"
EXPECTED_SQL = {
    "Customers rated": "select sum(customers) from ratings.portfolio_by_grade_segment",
    "Limit exposure (EUR)": "select sum(credit_limits_total) from ratings.portfolio_by_grade_segment",
    "Portfolio by grade and segment": "select sum(customers) from ratings.portfolio_by_grade_segment",
    "Limits by grade and segment (EUR)": "select sum(customers) from ratings.portfolio_by_grade_segment",
    "Grade migration, latest month (from grade down, to grade across)":
        f"select sum(customers) from ratings.grade_migration_monthly where {LATEST_MONTH}",
    "PD distribution (current ratings)": "select sum(pd_12m) from ratings.current_customer_ratings",
    "Mean PD per rated date":
        "select sum(avg_pd) from (select avg(pd_12m) as avg_pd from ratings.customer_ratings group by as_of_date) as d",
    "Open warnings by rule and severity": "select count(*) from ratings.open_credit_warnings",
    "Warnings opened and resolved per day": "select sum(warnings_opened) from ratings.warnings_daily",
    "Decision mix per day": "select sum(customers) from ratings.decision_mix_daily",
    "Data-quality checks by stage and status": "select count(*) from ratings.data_quality_results",
    "PSI per rated date": "select sum(psi) from ratings.model_monitoring",
    "Back-test by grade, latest cohort": "select sum(default_rate) from ratings.backtest_by_grade"
                                         " where cohort_date = (select max(cohort_date) from ratings.backtest_by_grade)",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def book_warehouse(admin_url: str) -> Iterator[str]:
    name = f"t_bi_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    migrate(url)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


@pytest.fixture(scope="module")
def superset(book_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    if not (serve.BI_VENV / "bin" / "superset").exists():  # not a skip: a missing Superset is an error
        pytest.fail(f"no Superset in {serve.BI_VENV}: run `make bi-install`")
    home = tmp_path_factory.mktemp("superset")
    login_existed = bool(fetch(book_warehouse, "select 1 from pg_roles where rolname = %s", (serve.LOGIN,)))
    try:
        serve.prepare(home, book_warehouse)  # builds the BI views the book is then written under
        write_bi_book(book_warehouse)
        port = free_port()
        proc = serve.start(home, port)
        try:
            yield {"base": f"http://127.0.0.1:{port}", "password": serve.admin_password(home), "url": book_warehouse}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        if not login_existed:  # roles are cluster-wide: leave none behind (the database goes with the fixture)
            with transaction(book_warehouse) as cur:
                cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", (serve.LOGIN,))
                cur.execute(f"drop role if exists {serve.LOGIN}")


def test_every_chart_of_the_dashboard_renders_without_error_in_chromium(superset: dict) -> None:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.fail("Debian's chromium and chromium-driver are needed: run `make desk-browser-deps`")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,3000"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.get(f"{superset['base']}/login/")
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.ID, "username"))
        browser.find_element(By.ID, "username").send_keys(serve.ADMIN)
        browser.find_element(By.ID, "password").send_keys(superset["password"])
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 60).until(lambda b: "/login" not in b.current_url)

        browser.get(f"{superset['base']}/superset/dashboard/{serve.DASHBOARD_SLUG}/")
        holders = "[data-test='chart-grid-component']"

        def states(b: webdriver.Chrome) -> dict[str, str] | None:
            """chart name -> rendered / error: <text>, once no chart is loading any more."""
            found = b.find_elements(By.CSS_SELECTOR, holders)
            if len(found) < len(CHARTS):
                return None
            out = {}
            for holder in found:
                name = holder.get_attribute("data-test-chart-name") or holder.text.split("\n")[0]
                errors = holder.find_elements(By.CSS_SELECTOR, "[role=alert], .alert-danger")
                drawn = holder.find_elements(By.CSS_SELECTOR, "canvas, svg, table, .header-line")
                if errors:
                    out[name] = "error: " + errors[0].text.replace("\n", " ")
                elif holder.find_elements(By.CSS_SELECTOR, ".loading, [aria-label='Loading']") or not drawn:
                    return None
                else:
                    out[name] = "rendered"
            return out

        rendered = WebDriverWait(browser, 180, poll_frequency=2).until(states)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "superset-credit-risk-dashboard.png"))
    finally:
        browser.quit()
    assert rendered == dict.fromkeys(CHARTS, "rendered")


def chart_query(chart: dict) -> dict:
    """The chart's query from its saved form data: its columns (x-axis, groups), metrics and row limit."""
    params = json.loads(chart["params"])
    if chart["viz_type"] == "histogram_v2":  # raw values, binned in the browser: no metrics (None), no grouping
        columns, metrics = [params["column"]], None
    else:
        groupby = params.get("groupby") or []
        columns = [c for c in [params.get("x_axis"), *([groupby] if isinstance(groupby, str) else groupby)] if c]
        metrics = params.get("metrics") or [params["metric"]]
    return {"datasource": {"id": chart["datasource_id"], "type": "table"}, "force": True,
            "queries": [{"columns": columns, "metrics": metrics, "row_limit": params.get("row_limit", 10000),
                         "filters": [], "extras": {}, "orderby": []}],
            "result_format": "json", "result_type": "full"}


def test_each_chart_shows_the_figure_the_same_view_gives_in_sql(superset: dict) -> None:
    assert set(EXPECTED_SQL) == set(CHARTS)  # a new chart needs its figure here
    with httpx.Client(base_url=superset["base"], timeout=60) as client:
        login = client.post("/api/v1/security/login", json={
            "username": serve.ADMIN, "password": superset["password"], "provider": "db"})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        listed = client.get("/api/v1/chart/", params={"q": json.dumps({"page_size": 100})}).json()["result"]
        ids = {c["slice_name"]: c["id"] for c in listed}
        assert set(CHARTS) <= set(ids)
        compared = {}
        for name, sql in EXPECTED_SQL.items():
            chart = client.get(f"/api/v1/chart/{ids[name]}").json()["result"]
            query = chart_query(chart)
            response = client.post("/api/v1/chart/data", json=query)
            assert response.status_code == 200, (name, response.text[:500])
            result = response.json()["result"][0]
            params = json.loads(chart["params"])
            key = params["column"] if chart["viz_type"] == "histogram_v2" else (
                (params.get("metrics") or [params.get("metric")])[0]["label"])
            shown = sum(float(row[key]) for row in result["data"] if row[key] is not None)
            direct = float(fetch(superset["url"], sql)[0][0])
            compared[name] = (shown, direct)
    assert all(direct > 0 for _, direct in compared.values()), compared  # the book fills every chart
    assert {n: pytest.approx(d, rel=1e-9) for n, (_, d) in compared.items()} == {n: s for n, (s, _) in compared.items()}
