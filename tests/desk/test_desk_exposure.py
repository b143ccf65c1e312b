"""`python -m desk refresh-exposure`: open receivables of the latest feature snapshot reach the check."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

from common.paths import REPO_ROOT
from tests.helpers.desk import Customer, issue_tokens, run_sql, seed_book
from tests.helpers.feature_mart import create_feature_mart
from tests.helpers.sql import fetch

CUSTOMER = Customer("ACC-EXPO", current_limit=100_000, open_receivables=0)


def test_the_refresh_takes_the_latest_snapshot_and_keeps_the_order_book(desk) -> None:
    seed_book(desk.url, [CUSTOMER])
    run_sql(desk.url, "update desk.customer_exposure set open_orders = 5000 where customer_id = %s",
            (CUSTOMER.customer_id,))
    create_feature_mart(desk.url)
    today = date.today()
    for day, receivables in ((today - timedelta(days=2), 10_000), (today - timedelta(days=1), 70_000)):
        run_sql(desk.url, "insert into marts.customer_features (customer_id, as_of_date, open_receivables)"
                          " values (%s, %s, %s)", (CUSTOMER.customer_id, day, receivables))
    env = {"WAREHOUSE_URL": desk.url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "desk", "refresh-exposure"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, check=True)
    assert "exposure snapshot: " in done.stdout
    assert fetch(desk.url, "select as_of_date, open_receivables, open_orders from desk.customer_exposure"
                           " where customer_id = %s", (CUSTOMER.customer_id,)) == [
        (today - timedelta(days=1), 70_000, 5000)]
    sales = issue_tokens(desk.url, {"sam.expo": "sales"})["sam.expo"]
    with desk.client(sales) as client:
        result = client.post("/v1/credit-checks", json={"account_id": CUSTOMER.account_id, "amount": 30_000,
                                                        "currency": "EUR"}).json()
    assert result["exposure_before_eur"] == "75000.00" and result["outcome"] == "refer"
