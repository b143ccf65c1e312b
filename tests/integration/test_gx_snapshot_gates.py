"""The GX gates on the feature snapshot and the ratings: clean data passes, each corruption is caught by
its expectation, distribution drift only warns, a critical failure stops the run before scoring."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from common.warehouse import transaction
from devtools.scratch import create_database, drop_database
from expectations.gate import QualityGateFailed, run_gate
from tests.helpers.feature_mart import create_feature_mart
from tests.helpers.gates import failed, insert_features, stage_ratings, stored

D = date(2026, 3, 10)


@pytest.fixture(scope="module")
def shared_warehouse(admin_url: str) -> str:
    """One migrated warehouse with a feature mart for the cases below; each case has its own date."""
    from common.migrate import migrate

    name = f"t_gxs_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    migrate(url)
    create_feature_mart(url, keyed=False)
    yield url
    drop_database(admin_url, name)


# --- feature snapshot ---------------------------------------------------------------------------

def test_clean_snapshot_passes(warehouse_url):
    create_feature_mart(warehouse_url, keyed=False)
    insert_features(warehouse_url, D - timedelta(days=1))
    insert_features(warehouse_url, D)
    result = run_gate("features", as_of_date=D, url=warehouse_url, run_id="r")
    assert (result.critical, result.warnings) == (0, 0), result.warning_messages
    assert result.evaluated >= 50


FEATURE_CORRUPTIONS = {
    "look_ahead_default": ({"last_default_date": D + timedelta(days=3)},
                           ("unexpected_rows_expectation", "point_in_time", None)),
    "negative_dpd": ({"dpd_current": -5.0}, ("expect_column_values_to_be_between", "range", "dpd_current")),
    "share_above_one": ({"share_paid_late_12m": 1.7},
                        ("expect_column_values_to_be_between", "range", "share_paid_late_12m")),
    "missing_key": ({"customer_id": None}, ("expect_column_values_to_not_be_null", "not_null", "customer_id")),
}


@pytest.mark.parametrize("kind", sorted(FEATURE_CORRUPTIONS))
def test_each_feature_corruption_is_caught(shared_warehouse, kind):
    url = shared_warehouse
    over, (etype, check, column) = FEATURE_CORRUPTIONS[kind]
    day = D + timedelta(days=20 + sorted(FEATURE_CORRUPTIONS).index(kind))  # one snapshot per case
    if "last_default_date" in over:
        over = {"last_default_date": day + timedelta(days=3)}
    insert_features(url, day)
    with transaction(url) as cur:
        sets = ", ".join(f"{k} = %({k})s" for k in over)
        cur.execute(f"update marts.customer_features set {sets} where customer_id = 'c0003' "
                    f"and as_of_date = %(day)s", {**over, "day": day})
    with pytest.raises(QualityGateFailed, match="marts.customer_features"):
        run_gate("features", as_of_date=day, url=url, run_id=f"case-{kind}")
    critical = {(r["expectation_type"], r["check_kind"], r["column_name"])
                for r in stored(url, run_id=f"case-{kind}") if r["success"] is False and r["severity"] == "critical"}
    assert (etype, check, column) in critical
    if kind != "missing_key":  # a null key also fails the compound uniqueness check, rightly
        assert critical == {(etype, check, column)}


def test_duplicate_customer_and_missing_snapshot_are_critical(warehouse_url):
    create_feature_mart(warehouse_url, keyed=False)
    insert_features(warehouse_url, D, n=5)
    insert_features(warehouse_url, D, n=1)
    with pytest.raises(QualityGateFailed, match=r"expect_compound_columns_to_be_unique.*2 of 6 rows"):
        run_gate("features", as_of_date=D, url=warehouse_url, run_id="r")
    with pytest.raises(QualityGateFailed, match=r"expect_table_row_count_to_be_between.*\[freshness\]"):
        run_gate("features", as_of_date=D + timedelta(days=1), url=warehouse_url, run_id="r")


def test_distribution_shift_against_history_warns_but_does_not_stop(warehouse_url):
    create_feature_mart(warehouse_url, keyed=False)
    for back in range(8, 0, -1):
        insert_features(warehouse_url, D - timedelta(days=back), dpd=3.0 + 0.1 * (back % 3))
    insert_features(warehouse_url, D, dpd=45.0)  # inside the fixed config band, far outside the history
    result = run_gate("features", as_of_date=D, url=warehouse_url, run_id="r")
    assert result.critical == 0
    warned = {(f[1], f[3]) for f in failed(warehouse_url, "features")}
    assert warned == {("expect_column_mean_to_be_between", "dpd_current"),
                      ("expect_column_quantiles_to_be_between", "dpd_current")}
    assert all(f[4] == "warning" for f in failed(warehouse_url, "features"))


# --- ratings ------------------------------------------------------------------------------------

def test_staged_ratings_pass_and_bad_ones_stop_the_publish(warehouse_url):
    create_feature_mart(warehouse_url, keyed=False)
    insert_features(warehouse_url, D)
    stage_ratings(warehouse_url, D, run_id="good")
    ok = run_gate("ratings", as_of_date=D, table="ratings_stage.customer_ratings", run_id="good",
                  url=warehouse_url)
    assert (ok.critical, ok.warnings) == (0, 0), ok.warning_messages
    as_query = run_gate("ratings", as_of_date=D, url=warehouse_url, run_id="q",
                        query="select * from ratings_stage.customer_ratings where run_id = 'good'")
    assert (as_query.evaluated, as_query.critical) == (ok.evaluated, 0)

    stage_ratings(warehouse_url, D, run_id="bad", n=39)  # one customer unrated
    with transaction(warehouse_url) as cur:
        cur.execute("update ratings_stage.customer_ratings set rating_grade = 'ZZZ' "
                    "where run_id = 'bad' and customer_id = 'c0001'")
    with pytest.raises(QualityGateFailed) as err:
        run_gate("ratings", as_of_date=D, table="ratings_stage.customer_ratings", run_id="bad",
                 url=warehouse_url)
    message = str(err.value)
    assert "ratings_stage.customer_ratings: expect_column_values_to_be_in_set(rating_grade)" in message
    assert "1 of 39 rows unexpected" in message
    assert "[referential] - 1 unexpected rows" in message  # c0039 has features but no rating


def test_critical_failure_leaves_no_new_ratings_and_fails_with_a_clear_message(warehouse_url):
    """The daily run's gate task (pipeline.daily.gate) on a broken snapshot: the task fails with the
    reason, its audit row says so, and nothing is rated for the date."""
    from pipeline import daily

    create_feature_mart(warehouse_url, keyed=False)
    insert_features(warehouse_url, D, dpd_current=-1.0)
    interval_start = datetime.combine(D, datetime.min.time(), tzinfo=UTC)
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException) as err:  # fails without retries: the data will not change
        daily.gate("features", "daily-run", interval_start, interval_start + timedelta(days=1))
    assert isinstance(err.value.__cause__, QualityGateFailed)
    message = str(err.value)
    assert message.startswith("quality gate 'features' failed for batch 2026-03-10")
    assert "marts.customer_features: expect_column_values_to_be_between(dpd_current) [range] - 40 of 40" in message
    with transaction(warehouse_url) as cur:
        cur.execute("select status, detail->>'error' from audit.pipeline_runs where task_id = 'gate_features'")
        status, error = cur.fetchone()
        cur.execute("select count(*) from ratings.customer_ratings where as_of_date = %s", (D,))
        assert cur.fetchone()[0] == 0
    assert status == "failed" and "expect_column_values_to_be_between(dpd_current)" in error


def test_bands_are_learned_from_earlier_gate_results_without_scanning_the_mart(warehouse_url):
    create_feature_mart(warehouse_url, keyed=False)
    insert_features(warehouse_url, D, dpd=45.0)  # no earlier snapshot in the mart at all
    with transaction(warehouse_url) as cur:
        for back in range(1, 8):
            day = (D - timedelta(days=back)).isoformat()
            for etype, observed in (("expect_column_mean_to_be_between", 3.0 + 0.1 * (back % 3)),
                                    ("expect_column_quantiles_to_be_between",
                                     {"quantiles": [0.5, 0.9], "values": [3.0, 5.0 + 0.1 * (back % 2)]})):
                cur.execute(
                    "insert into audit.data_quality_results (run_id, stage, suite_name, table_name, batch_key,"
                    " expectation_type, column_name, kwargs, severity, success, observed_value, message)"
                    " values ('old', 'features', 'marts.customer_features', 'marts.customer_features', %s, %s,"
                    " 'dpd_current', '{}', 'warning', true, %s, 'passed')",
                    (day, etype, json.dumps(observed)))
    result = run_gate("features", as_of_date=D, url=warehouse_url, run_id="r")
    assert result.critical == 0
    assert {(f[1], f[3]) for f in failed(warehouse_url, "features")} == {
        ("expect_column_mean_to_be_between", "dpd_current"),
        ("expect_column_quantiles_to_be_between", "dpd_current")}
