"""Incremental daily runs and the full-refresh history build produce exactly the same snapshots."""

from __future__ import annotations

import datetime as dt

from common.dbt import run_dbt
from common.warehouse import transaction
from tests.helpers.crafted_raw import feature_rows, load_scenario, snapshot_dates

MODELS_ONLY = ["--select", "+customer_features", "--exclude", "test_type:data", "test_type:unit"]


def test_full_refresh_equals_the_union_of_daily_runs(warehouse_url):
    load_scenario(warehouse_url)
    # the models of common.transform.build_history, without its data tests (test_dbt_features runs them)
    history_vars = {"as_of_date": "2024-06-30", "history": True, "recent_days": 2, "history_start_date": "2024-04-01"}
    run_dbt(["build", "--full-refresh", *MODELS_ONLY], vars=history_vars, conn_id_or_url=warehouse_url)
    history = feature_rows(warehouse_url)
    dates = snapshot_dates(warehouse_url)
    assert dates == [dt.date(2024, 4, 30), dt.date(2024, 5, 31), dt.date(2024, 6, 29), dt.date(2024, 6, 30)]
    with transaction(warehouse_url) as cur:
        cur.execute("drop table marts.customer_features")
    for day in reversed(dates):  # the order of the daily runs must not matter
        run_dbt(["build", *MODELS_ONLY], vars={"as_of_date": day.isoformat()}, conn_id_or_url=warehouse_url)
    assert len(history) == 20
    assert feature_rows(warehouse_url) == history


def test_daily_runs_keep_month_ends_and_the_last_days_only(warehouse_url):
    load_scenario(warehouse_url)
    days = [dt.date(2024, 5, 15), dt.date(2024, 5, 31), dt.date(2024, 6, 10), dt.date(2024, 6, 30)]
    for day in days:
        run_dbt(["build", *MODELS_ONLY], vars={"as_of_date": day.isoformat()}, conn_id_or_url=warehouse_url)
    # 2024-05-15 lies more than 35 days (daily_snapshot_retention_days) before the last run: pruned;
    # the month end 2024-05-31 stays, and so do the days within the window
    assert snapshot_dates(warehouse_url) == days[1:]
    # a backfill of an old day keeps that day until a later run prunes it, so it can be scored
    run_dbt(["build", *MODELS_ONLY], vars={"as_of_date": "2024-05-15"}, conn_id_or_url=warehouse_url)
    assert snapshot_dates(warehouse_url) == days
    # the retention can be switched off
    run_dbt(["build", *MODELS_ONLY], vars={"as_of_date": "2024-06-30", "daily_snapshot_retention_days": None},
            conn_id_or_url=warehouse_url)
    assert snapshot_dates(warehouse_url) == days
