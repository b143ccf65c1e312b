"""The dbt marts on simulator output: history build, then the next day's run leaves history unchanged."""

from __future__ import annotations

import datetime as dt

from common.transform import build_history, build_snapshot
from devtools.simulator import simulate
from ingest.extract import extract_interval
from tests.helpers.crafted_raw import feature_rows
from tests.helpers.sql import fetch

START = dt.date(2024, 1, 1)
HISTORY = dt.date(2000, 1, 1)  # the initial load covers everything before the first daily interval
AS_OF = dt.date(2025, 1, 31)
CUSTOMERS = 150
SEED = 13


def _extract(start: dt.date, end: dt.date) -> None:
    for source in ("crm", "finance"):  # finance rows reference CRM accounts: CRM first
        extract_interval(source, start, end, verbose=False)


def test_simulated_history_and_next_daily_run(warehouse_url):
    simulate(CUSTOMERS, START, AS_OF, seed=SEED, verbose=False)
    _extract(HISTORY, AS_OF + dt.timedelta(days=1))
    build_history(AS_OF, recent_days=3, conn_id_or_url=warehouse_url)  # every data test runs

    per_date = fetch(warehouse_url, "select as_of_date, count(*), count(distinct customer_id), sum(in_default), "
                                    "count(bureau_score), sum(invoice_count_3m) "
                                    "from marts.customer_features group by 1 order by 1")
    dates = [r[0] for r in per_date]
    assert dates[0] == dt.date(2024, 1, 31)  # month ends from the first invoice month ...
    assert dates[-4:] == [dt.date(2024, 12, 31), *(AS_OF - dt.timedelta(days=n) for n in (2, 1, 0))]  # ... + 3 days
    assert all(r[1] == r[2] > 0 for r in per_date)  # one row per customer and date
    latest = per_date[-1]
    assert latest[1] > CUSTOMERS // 2 and latest[4] > 0 and latest[5] > 0
    labels = fetch(warehouse_url, "select count(*), count(distinct as_of_date) from marts.customer_default_labels")[0]
    assert labels[0] > 0 and labels[1] >= 1
    before = feature_rows(warehouse_url, AS_OF)

    # the next day: sources advance (late updates included), one more interval is extracted
    next_day = AS_OF + dt.timedelta(days=1)
    simulate(CUSTOMERS, START, next_day, seed=SEED, verbose=False)
    _extract(next_day, next_day + dt.timedelta(days=1))
    build_snapshot(next_day, conn_id_or_url=warehouse_url)
    assert feature_rows(warehouse_url, AS_OF) == before  # history untouched by the new day
    assert len(feature_rows(warehouse_url, next_day)) > 0
    build_snapshot(AS_OF, conn_id_or_url=warehouse_url)  # and rebuilding D with D+1 loaded: no leak
    assert feature_rows(warehouse_url, AS_OF) == before
