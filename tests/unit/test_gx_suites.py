"""The JSON suites stay in step with the data contract and build as GX suites (no database needed)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from common.config import load_config
from expectations import parameters
from expectations.suites import SUITES_DIR, load_suite, resolved_expectations, suites_for_stage

BATCH_COLUMNS = ["_batch_id", "_extracted_at", "_interval_start", "_interval_end"]
ALL_SUITES = [load_suite(p) for p in sorted(SUITES_DIR.glob("*.json"))]


class FakeCursor:
    """Answers the parameter queries as if there were no earlier batch or snapshot."""

    def execute(self, *args, **kwargs):
        pass

    def fetchone(self):
        return (1, None)

    def fetchall(self):
        return []


def run_time_values(spec):
    if spec.stage.startswith("raw"):
        return parameters.raw_parameters(FakeCursor(), spec.table, datetime(2026, 1, 1, tzinfo=UTC),
                                         datetime(2026, 1, 2, tzinfo=UTC))
    if spec.stage == "features":
        return parameters.feature_parameters(FakeCursor(), spec.table, date(2026, 1, 1))
    return parameters.ratings_parameters()


def _schema_columns(spec):
    return next(e["kwargs"]["column_set"] for e in spec.data["expectations"]
                if e["type"] == "expect_table_columns_to_match_set")


def test_there_is_one_suite_per_raw_table_plus_features_and_ratings():
    sources = load_config("sources")["sources"]
    raw_tables = {f"{s['raw_schema']}.{t}" for s in sources.values() for t in s["tables"]}
    assert {s.table for s in ALL_SUITES} == raw_tables | {"marts.customer_features", "ratings.customer_ratings"}
    assert all(s.name == s.table for s in ALL_SUITES)
    assert len(suites_for_stage("raw_crm")) == 5 and len(suites_for_stage("raw_finance")) == 7


def test_raw_suites_expect_exactly_the_contract_columns():
    for source in load_config("sources")["sources"].values():
        for table, spec in source["tables"].items():
            suite = load_suite(SUITES_DIR / f"{source['raw_schema']}.{table}.json")
            assert _schema_columns(suite) == list(spec["columns"]) + BATCH_COLUMNS


def test_feature_suite_expects_every_feature_of_the_spec():
    features = load_config("features")["features"]
    suite = load_suite(SUITES_DIR / "marts.customer_features.json")
    assert _schema_columns(suite) == ["customer_id", "as_of_date"] + [f["name"] for f in features]


@pytest.mark.parametrize("spec", ALL_SUITES, ids=lambda s: s.name)
def test_every_suite_builds_as_a_gx_suite_with_severity_on_each_expectation(spec):
    import great_expectations as gx

    import expectations.context  # noqa: F401 - registers the plain-bool quantile expectation

    run, skipped = resolved_expectations(spec, run_time_values(spec))
    suite = gx.ExpectationSuite(name=spec.name, expectations=run)
    assert len(suite.expectations) == len(run) and len(run) + len(skipped) == len(spec.data["expectations"])
    for expectation in suite.expectations:
        assert expectation.meta["severity"] in ("critical", "warning")
        assert expectation.severity.value == expectation.meta["severity"]
        assert expectation.meta["check"]


def test_sql_checks_are_scoped_to_the_batch_and_avoid_join():
    for spec in ALL_SUITES:
        for e in spec.data["expectations"]:
            query = e["kwargs"].get("unexpected_rows_query")
            if query:
                assert "{batch}" in query, (spec.name, query)
                # GX only aliases {batch} itself when the query has no JOIN
                assert not re.search(r"\bjoin\b", query, re.IGNORECASE), (spec.name, query)


def test_every_kind_of_check_of_the_issue_is_present():
    kinds = {e["meta"]["check"] for s in ALL_SUITES for e in s.data["expectations"]}
    assert {"schema", "not_null", "unique", "range", "allowed_values", "referential", "freshness", "volume",
            "distribution"} <= kinds
    invoices = load_suite(SUITES_DIR / "raw_finance.invoices.json")
    critical_refs = [e for e in invoices.data["expectations"]
                     if e["meta"]["check"] == "referential" and e["meta"]["severity"] == "critical"]
    assert len(critical_refs) == 1 and "raw_crm.accounts" in critical_refs[0]["kwargs"]["unexpected_rows_query"]


def test_volume_bounds_follow_the_previous_batch_and_skip_small_ones():
    settings = {"warning_min_ratio": 0.5, "warning_max_ratio": 3.0, "critical_min_ratio": 0.1,
                "min_previous_rows": 50}
    assert parameters.volume_bounds(200, settings) == {
        "volume_critical_min": 20, "volume_warning_min": 100, "volume_warning_max": 600}
    assert set(parameters.volume_bounds(49, settings).values()) == {None}
    assert set(parameters.volume_bounds(None, settings).values()) == {None}


def test_bands_are_learned_from_history_when_there_is_enough():
    cfg = {"source": "history", "min_snapshots": 3, "k_sd": 2, "min_rel_width": 0.0}
    key = ("dpd_current", "mean", None)
    history = [{key: v} for v in (4.0, 5.0, 6.0)]
    low, high = parameters._band([0, 60], history, key, cfg)
    assert (round(low, 6), round(high, 6)) == (3.0, 7.0)  # mean 5 +- 2 sd (sd = 1)
    assert parameters._band([0, 60], history[:2], key, cfg) == [0, 60]  # too little history: config band
    assert parameters._band([0, 60], history, key, {**cfg, "source": "config"}) == [0, 60]
