"""The dbt feature marts on crafted raw rows: history build, data tests, labels, PII, reruns."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from common.config import load_config
from common.transform import build_history, build_snapshot
from tests.helpers.crafted_raw import DATA_END, feature_rows, load_scenario, snapshot_dates
from tests.helpers.sql import fetch

PII_COLUMNS = {"legal_name", "tax_id", "first_name", "last_name", "email", "phone"}


def feature_names() -> list[str]:
    return [f["name"] for f in load_config("features")["features"]]


HISTORY_AS_OF = dt.date(2024, 6, 30)


@pytest.fixture(scope="module")
def history_warehouse(admin_url: str) -> Iterator[str]:
    """One warehouse for the module: crafted raw rows and a history build (every data test runs)."""
    from common.migrate import migrate
    from devtools.scratch import create_database, drop_database

    name = f"t_dbt_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    try:
        migrate(url)
        load_scenario(url)
        build_history(HISTORY_AS_OF, recent_days=2, history_start_date="2023-05-01", conn_id_or_url=url)
        yield url
    finally:
        drop_database(admin_url, name)


def test_history_build_passes_data_tests_with_one_row_per_active_customer(history_warehouse):
    dates = snapshot_dates(history_warehouse)
    assert dates[0] == dt.date(2023, 5, 31) and dates[-2:] == [dt.date(2024, 6, 29), HISTORY_AS_OF]
    assert len(dates) == 15  # 14 month ends + 2024-06-29
    rows = fetch(history_warehouse, "select customer_id, in_default, credit_limit from marts.customer_features "
                                    "where as_of_date = %s", (HISTORY_AS_OF,))
    assert len(rows) == 5  # A5 closed in April 2024
    assert len({r[0] for r in rows}) == 5
    assert all(len(r[0]) == 32 and not r[0].startswith("A") for r in rows)  # pseudonymous
    assert sum(r[1] for r in rows) == 1  # A6 defaulted in April/June 2024
    assert all(r[2] is not None for r in rows)
    columns = [r[0] for r in fetch(history_warehouse, "select column_name from information_schema.columns where "
                                   "table_schema = 'marts' and table_name = 'customer_features' order by ordinal_position")]
    assert columns == ["customer_id", "as_of_date", *feature_names()]


def test_daily_rerun_of_a_history_date_leaves_identical_rows(history_warehouse):
    before = feature_rows(history_warehouse)
    build_snapshot(HISTORY_AS_OF, conn_id_or_url=history_warehouse)
    build_snapshot(HISTORY_AS_OF, conn_id_or_url=history_warehouse)
    assert feature_rows(history_warehouse) == before


def test_labels_exist_only_for_mature_snapshots_and_flag_defaults_in_the_horizon(history_warehouse):
    labels = fetch(history_warehouse, "select as_of_date, horizon_end_date, label_cutoff_date, "
                                      "sum(default_flag), count(*) from marts.customer_default_labels "
                                      "group by 1, 2, 3 order by 1")
    cutoff = fetch(history_warehouse, "select max(updated_at)::date from (select updated_at from raw_finance.invoices "
                                      "union all select updated_at from raw_finance.default_events) u")[0][0]
    assert [r[0] for r in labels] == [dt.date(2023, 5, 31), dt.date(2023, 6, 30)]  # + 12 months <= cutoff
    assert all(r[1] <= cutoff and r[2] == cutoff for r in labels)
    # A6 defaults in April 2024 (inside both horizons), A5 in September 2023
    assert [int(r[3]) for r in labels] == [2, 2]
    features = fetch(history_warehouse, "select count(*) from marts.customer_features "
                                        "where as_of_date in ('2023-05-31', '2023-06-30')")[0][0]
    assert sum(r[4] for r in labels) == features
    assert fetch(history_warehouse, "select count(*) from marts.customer_default_labels "
                                    "where as_of_date + interval '12 months' > %s", (cutoff,))[0][0] == 0


def test_pii_stays_in_staging(history_warehouse):
    found = fetch(history_warehouse, "select table_schema, table_name, column_name from information_schema.columns "
                                     "where table_schema in ('intermediate', 'marts', 'seeds', 'ratings') "
                                     "and column_name = any(%s)", (list(PII_COLUMNS),))
    assert found == []
    in_staging = fetch(history_warehouse, "select count(*) from information_schema.columns "
                                          "where table_schema = 'staging' and column_name = any(%s)",
                       (list(PII_COLUMNS),))
    assert in_staging[0][0] > 0  # the check looks for the right names


def test_the_limit_history_answers_what_the_credit_limit_was_on_a_day(history_warehouse):
    # L2b started on 2024-02-01 at 50,000 USD and was corrected to 30,000 USD on 2024-02-15; staging keeps
    # the limit in EUR only (the fx seed's USD rate 0.92: 46,000 and 27,600 EUR)
    def limit_on(day: dt.date) -> list[tuple]:
        return fetch(history_warehouse, "select credit_limit_eur, valid_from from staging.stg_finance__credit_limit_history"
                                        " where limit_id = 'L2b' and valid_from_date <= %s and %s < valid_to_date"
                                        " and known_since_date <= %s", (day, day, day))
    assert limit_on(dt.date(2024, 1, 31)) == []
    assert limit_on(dt.date(2024, 2, 14)) == [(Decimal("46000.00"), dt.date(2024, 2, 1))]
    assert limit_on(dt.date(2024, 2, 15)) == [(Decimal("27600.00"), dt.date(2024, 2, 1))]
    assert limit_on(DATA_END) == [(Decimal("27600.00"), dt.date(2024, 2, 1))]
