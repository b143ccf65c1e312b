"""The pandas baseline of bench/bench_features.py computes the same features as dbt.

On the crafted raw rows of tests/helpers/crafted_raw.py (corrections, cancellations, credit notes, foreign
currencies, a closed account, a resolved dispute, defaults), for a date whose 3-month look-back falls
on a clamped month end (2024-05-31 -> 2024-02-29): a benchmark that compared against a wrong baseline
would report figures for different work.
"""

from __future__ import annotations

import datetime as dt

from bench.bench_features import compare_tables, run_pandas
from common.transform import build_snapshot
from tests.helpers.crafted_raw import load_scenario
from tests.helpers.sql import fetch

AS_OF = dt.date(2024, 5, 31)


def test_pandas_baseline_matches_dbt_on_every_feature(warehouse_url):
    load_scenario(warehouse_url)
    build_snapshot(AS_OF, conn_id_or_url=warehouse_url)
    result = run_pandas(warehouse_url, AS_OF)

    mismatches = compare_tables(warehouse_url, AS_OF)
    assert result["rows"] == mismatches["rows_dbt"] == mismatches["rows_pandas"] == 5  # A5 closed in April
    assert mismatches["total"] == 0, (mismatches["per_column"], mismatches["examples"])
    assert len(mismatches["per_column"]) == 35
    # the fixture gives the intricate columns real values, not just nulls and zeros
    filled = fetch(warehouse_url, "select count(*) filter (where credit_note_amount_12m > 0), "
                                  "count(utilisation_trend_3m), count(avg_days_late_12m), sum(in_default), "
                                  "count(*) filter (where open_dispute_amount > 0) "
                                  "from marts.customer_features where as_of_date = %s", (AS_OF,))[0]
    assert all(value and value > 0 for value in filled), filled
