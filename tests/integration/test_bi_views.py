"""The BI views are dbt models (dbt_project/models/bi): contracts enforced, descriptions as comments,
readable by bi_reader and written by nobody, and the new portfolio views count what they say."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from common.dbt import dbt_env
from common.paths import DBT_PROJECT_DIR, state_dir
from common.transform import build_bi_views
from common.warehouse import transaction
from tests.helpers.sql import fetch

BI_DIR = DBT_PROJECT_DIR / "models" / "bi"
# The contract of docs/bi.md that existed before the views moved to dbt: names and columns stay.
STABLE_COLUMNS = {
    "current_customer_ratings": [
        "customer_id", "as_of_date", "pd_12m", "score", "rating_grade", "risk_segment", "current_credit_limit",
        "recommended_credit_limit", "decision", "decision_rationale", "reason_codes", "model_name", "model_version",
        "run_id", "scored_at", "review_frequency_months", "next_review_date", "reason_texts",
        "rating_kind"],  # added by the credit-event re-rating (migration 140), last, the others unchanged
    "open_credit_warnings": [
        "warning_id", "customer_id", "rule_code", "severity", "metric_value", "threshold", "message",
        "first_seen_date", "last_seen_date", "status", "model_version", "days_open", "rating_kind"],
    "grade_migration_monthly": [
        "month", "from_grade", "to_grade", "from_rank", "to_rank", "notches_down", "customers",
        "share_of_from_grade"],
    "data_quality_results": [
        "result_id", "run_id", "stage", "table_name", "batch_key", "suite_name", "check_kind", "expectation_type",
        "column_name", "severity", "success", "unexpected_count", "element_count", "unexpected_percent", "message",
        "validated_at"],
    "override_rate_by_grade": [
        "rating_grade", "customers", "customers_with_active_override", "override_rate", "overrides_approved_total"],
}


def bi_models() -> dict[str, dict]:
    """The models of the bi folder as their YAML declares them."""
    models = {}
    for path in sorted(BI_DIR.glob("*.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            models[model["name"]] = model
    return models


def view_columns(url: str) -> dict[str, list[tuple[str, str | None]]]:
    """Per view in ratings: (column, comment) in column order."""
    rows = fetch(url, """
        select c.relname, a.attname, col_description(c.oid, a.attnum)
        from pg_class as c join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relnamespace = 'ratings'::regnamespace and c.relkind = 'v'
        order by c.relname, a.attnum""")
    views: dict[str, list[tuple[str, str | None]]] = {}
    for rel, col, comment in rows:
        views.setdefault(rel, []).append((col, comment))
    return views


def test_every_bi_model_declares_an_enforced_contract_with_a_type_and_description_per_column() -> None:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    folder = project["models"]["crm_credit_risk"]["bi"]
    assert folder["+contract"] == {"enforced": True}
    assert folder["+persist_docs"] == {"relation": True, "columns": True}
    assert folder["+schema"] == "ratings" and folder["+materialized"] == "view"
    models = bi_models()
    assert set(models) == {p.stem for p in BI_DIR.glob("*.sql")}
    for name, model in models.items():
        assert model["description"].strip(), name
        for column in model["columns"]:
            assert column.get("data_type") and column.get("description", "").strip(), (name, column["name"])
    for name, columns in STABLE_COLUMNS.items():
        assert [c["name"] for c in models[name]["columns"]] == columns, name


def test_the_build_keeps_the_contract_names_and_writes_every_description_as_a_comment(bi_views: str) -> None:
    views = view_columns(bi_views)
    manifest = json.loads((state_dir() / "dbt" / "target" / "manifest.json").read_text(encoding="utf-8"))
    nodes = {n["name"]: n for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["original_file_path"].startswith("models/bi/")}
    assert set(nodes) == set(bi_models()) and set(nodes) <= set(views)
    for name, node in nodes.items():
        described = {c: d["description"] for c, d in node["columns"].items()}
        assert views[name] == list(described.items()), name  # names, order and each comment
        assert "{{" not in "".join(described.values())  # doc() blocks rendered, not stored raw
        assert fetch(bi_views, "select obj_description(%s::regclass, 'pg_class')",
                     (f"ratings.{name}",))[0][0] == node["description"]
    for name, columns in STABLE_COLUMNS.items():
        assert [c for c, _ in views[name]] == columns, name
    # the migration-owned history view is described too
    assert all(comment for _, comment in views["customer_ratings"])


def test_a_view_whose_sql_breaks_its_contract_is_refused_and_the_old_view_stays(
        bi_views: str, tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = project / "models" / "bi" / "open_credit_warnings.sql"
    sql = model.read_text(encoding="utf-8")
    assert "+ 1 as days_open" in sql
    model.write_text(sql.replace("+ 1 as days_open", "+ 1.5 as days_open"), encoding="utf-8")
    env = {**dbt_env(bi_views), "DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "run", "--select", "open_credit_warnings",
         "--project-dir", str(project)],
        env=env, capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "contract" in output and "days_open" in output, output
    assert fetch(bi_views, "select data_type from information_schema.columns where table_schema = 'ratings'"
                 " and table_name = 'open_credit_warnings' and column_name = 'days_open'") == [("integer",)]


def test_bi_views_are_read_by_bi_reader_and_pipeline_writer_and_written_by_neither(bi_views: str) -> None:
    expected = {(name, role, "SELECT") for name in bi_models() for role in ("bi_reader", "pipeline_writer")}
    for _ in range(2):  # the first build creates each view, the second replaces it: same grants
        rows = fetch(bi_views, """
            select table_name, grantee, string_agg(privilege_type, ',' order by privilege_type)
            from information_schema.role_table_grants
            where table_schema = 'ratings' and table_name = any(%s) and grantee <> current_user
            group by 1, 2""", (list(bi_models()),))
        assert set(rows) == expected
        build_bi_views(bi_views)


# --- the portfolio views ---------------------------------------------------------------------------------

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)
OPEN = date(9999, 12, 31)


@pytest.fixture
def book(bi_views: str) -> str:
    """Three customers over two rated dates: c1 stays A, c2 falls from BBB to B (reduce, then hold), c3 is
    rated on D1 only; a DPD warning opens on D1 and stays, a PD warning opens on D1 and resolves on D2."""
    version = ("insert into ratings.customer_rating_versions (customer_id, valid_from_date, valid_to_date, pd_12m,"
               " score, rating_grade, risk_segment, current_credit_limit, recommended_credit_limit, decision,"
               " decision_rationale, model_name, model_version, run_id, scored_at)"
               " values (%s, %s, %s, %s, 600, %s, %s, %s, %s, %s, 'why', 'm', '1', 'r', now())")
    with transaction(bi_views) as cur:
        cur.execute("insert into ratings.rated_dates (as_of_date, run_id, scored_at, model_name, model_version,"
                    " rows_published) values (%s, 'r1', now(), 'm', '1', 3), (%s, 'r2', now(), 'm', '1', 2)",
                    (D1, D2))
        cur.execute("insert into ratings.rating_master_scale (grade, grade_rank, pd_lower, pd_upper, pd_central,"
                    " description, version) values ('A', 3, 0, 0.01, 0.005, 'a', 'v1'),"
                    " ('BBB', 4, 0.01, 0.1, 0.05, 'b', 'v1'), ('B', 6, 0.1, 0.3, 0.2, 'c', 'v1')")
        cur.execute("insert into ratings.risk_segments values ('low', 1, '{A}', 12, 'l'), ('medium', 2, '{BBB}', 6,"
                    " 'm'), ('high', 3, '{B}', 3, 'h')")
        for row in [("c1", D1, OPEN, 0.01, "A", "low", 10000, 12000, "approve"),
                    ("c2", D1, D2, 0.05, "BBB", "medium", 50000, 20000, "reduce"),
                    ("c2", D2, OPEN, 0.2, "B", "high", 50000, 0, "hold"),
                    ("c3", D1, D2, 0.02, "A", "low", None, 5000, "approve")]:
            cur.execute(version, row)
        cur.execute("insert into ratings.credit_warnings (customer_id, rule_code, severity, message,"
                    " first_seen_date, last_seen_date, status, resolved_date) values"
                    " ('c2', 'DPD_30', 'critical', 'm', %s, %s, 'open', null),"
                    " ('c1', 'PD_HIGH', 'warning', 'm', %s, %s, 'resolved', %s)", (D1, D2, D1, D1, D2))
        cur.execute("insert into ratings.model_monitoring (as_of_date, model_name, model_version, rows_scored,"
                    " grade_distribution, psi, backtest) values (%s, 'm', '1', 3, '{}', 0.02, %s)",
                    (D1, json.dumps({"cohort_date": D1.isoformat(), "grades": {
                        "A": {"customers": 2, "defaults": 1, "default_rate": 0.5, "mean_pd": 0.015,
                              "p_value": 0.01, "interval": [0.1, 0.9], "verdict": "underestimates"}}})))
    return bi_views


def test_portfolio_counts_the_latest_rated_date_by_grade_and_segment(book: str) -> None:
    rows = fetch(book, "select as_of_date, rating_grade, grade_rank, risk_segment, segment_rank, customers,"
                       " share_of_customers, credit_limits_total, recommended_limits_total,"
                       " limits_above_recommendation, pd_weighted_limits"
                       " from ratings.portfolio_by_grade_segment order by grade_rank")
    assert rows == [
        (D2, "A", 3, "low", 1, 1, 0.5, Decimal("10000.00"), Decimal("12000.00"), Decimal("0.00"), 100.0),
        (D2, "B", 6, "high", 3, 1, 0.5, Decimal("50000.00"), Decimal("0.00"), Decimal("50000.00"), 10000.0),
    ]


def test_decision_mix_counts_each_rated_date(book: str) -> None:
    rows = fetch(book, "select as_of_date, decision, customers, round(share_of_customers::numeric, 4),"
                       " credit_limits_total, recommended_limits_total from ratings.decision_mix_daily order by 1, 2")
    assert rows == [
        (D1, "approve", 2, Decimal("0.6667"), Decimal("10000.00"), Decimal("17000.00")),
        (D1, "reduce", 1, Decimal("0.3333"), Decimal("50000.00"), Decimal("20000.00")),
        (D2, "approve", 1, Decimal("0.5000"), Decimal("10000.00"), Decimal("12000.00")),
        (D2, "hold", 1, Decimal("0.5000"), Decimal("50000.00"), Decimal("0.00")),
    ]


def test_warnings_daily_counts_opened_resolved_and_open_per_date(book: str) -> None:
    rows = fetch(book, "select * from ratings.warnings_daily order by 1, 2")
    assert rows == [
        (D1, "DPD_30", "critical", 1, 0, 1),
        (D1, "PD_HIGH", "warning", 1, 0, 1),
        (D2, "DPD_30", "critical", 0, 0, 1),
        (D2, "PD_HIGH", "warning", 0, 1, 0),
    ]


def test_backtest_by_grade_unnests_the_monitoring_json(book: str) -> None:
    assert fetch(book, "select * from ratings.backtest_by_grade") == [
        (D1, "m", "1", "A", 2, 1, 0.5, 0.015, 0.01, "underestimates")]
