"""crm_credit_risk_daily end to end through Airflow (dag.test) on a small simulated book."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from common.warehouse import connect

HISTORY_START = date(2023, 11, 1)  # 12 months of warm-up before the labelled snapshots
AS_OF = date(2026, 10, 31)


def _fetch(url: str, sql: str, params: tuple | dict = ()) -> list[tuple]:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def _run_day(dag, day: date):
    run_after = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    dagrun = dag.test(logical_date=run_after)
    assert dagrun.state == "success", f"run for {day} ended {dagrun.state}"
    return dagrun


@pytest.mark.slow
def test_daily_run_rates_every_active_customer_once_and_rerun_adds_no_rows(
    pipeline_dbs, mlflow_uri, daily_dag, training_dag
):
    from devtools.simulator import simulate
    from ml.registry import champion_exists
    from pipeline.bootstrap import load_history

    simulate(400, HISTORY_START, AS_OF, seed=11, verbose=False)
    load_history(AS_OF, verbose=False)
    # the first champion comes from the training DAG, as in a deployment: the daily DAG never trains
    assert training_dag.test(logical_date=datetime(2026, 11, 1, 3, tzinfo=UTC)).state == "success"
    assert champion_exists()

    _run_day(daily_dag, AS_OF)

    active_in_source = {
        r[0] for r in _fetch(
            pipeline_dbs.crm_source,
            "select account_id from crm.accounts where status = 'active' and created_at < %s",
            (AS_OF + timedelta(days=1),),
        )
    }
    # who is rated (dbt var rated_account_statuses / exit_*): an active account, unless it has left the
    # book after a default, written off or under a credit stop (its latest limit 0)
    left_the_book = {
        r[0] for r in _fetch(
            pipeline_dbs.finance_source,
            """
            select customer_id from finance.default_events where event_type = 'write_off' and event_date <= %(d)s
            union
            select l.customer_id from finance.credit_limits as l
            where l.valid_from <= %(d)s and l.credit_limit = 0
              and not exists (select 1 from finance.credit_limits as m where m.customer_id = l.customer_id
                              and m.valid_from <= %(d)s and m.valid_from > l.valid_from)
              and exists (select 1 from finance.default_events as e where e.customer_id = l.customer_id
                          and e.event_date <= %(d)s)
            """,
            {"d": AS_OF},
        )
    }
    assert len(left_the_book & active_in_source) >= 5, "the simulated book writes off and blocks defaulters"
    rated = _fetch(
        pipeline_dbs.warehouse,
        "select customer_id, count(*), min(model_version), bool_and(model_version is not null) "
        "from ratings.customer_ratings where as_of_date = %s group by customer_id",
        (AS_OF,),
    )
    assert len(rated) == len(active_in_source - left_the_book) > 250
    worst = _fetch(
        pipeline_dbs.warehouse,
        "select max(f.dpd_current) from ratings.customer_ratings r join marts.customer_features f "
        "using (customer_id, as_of_date) where r.as_of_date = %s",
        (AS_OF,),
    )[0][0]
    assert worst < 200, f"a customer {worst} days past due is still rated as live"

    # the policy calibrated on the simulated book (docs/ratings.md, "Calibration"): mostly approve, few cuts
    from ratings.monitoring import decision_mix, format_decision_mix

    conn = connect(pipeline_dbs.warehouse)
    with conn.cursor() as cur:
        mix = decision_mix(cur, AS_OF)
    conn.close()
    totals = {d: sum(row.get(d, 0) for row in mix.values()) for d in ("approve", "review", "reduce", "hold")}
    assert sum(totals.values()) == len(rated), "\n".join(format_decision_mix(mix))
    assert totals["approve"] >= 0.5 * len(rated) and totals["reduce"] <= 0.25 * len(rated), (
        "\n".join(format_decision_mix(mix)))
    assert all(n == 1 for _, n, _, _ in rated), "a customer was rated twice for the same date"
    assert all(has_version for *_, has_version in rated)
    assert _fetch(pipeline_dbs.warehouse, "select count(*) from ratings.customer_ratings")[0][0] == len(rated)

    before = _fetch(
        pipeline_dbs.warehouse,
        "select customer_id, pd_12m, rating_grade, model_version from ratings.customer_ratings order by 1",
    )
    raw_before = _fetch(pipeline_dbs.warehouse, "select count(*) from raw_finance.invoices")[0][0]
    warnings_before = _fetch(pipeline_dbs.warehouse, "select count(*) from ratings.credit_warnings")[0][0]

    # the credit desk was refreshed after publishing: one open case per review/hold decision
    to_review = _fetch(
        pipeline_dbs.warehouse,
        "select count(*) from ratings.customer_rating_versions where valid_to_date = '9999-12-31' "
        "and decision in ('review', 'hold')",
    )[0][0]
    decision_cases = "select count(*) from desk.cases where source = 'decision'"
    assert to_review > 0 and _fetch(pipeline_dbs.warehouse, decision_cases)[0][0] == to_review
    exposure_rows = _fetch(pipeline_dbs.warehouse, "select count(*) from desk.customer_exposure")[0][0]
    assert exposure_rows > 250
    cases_before = _fetch(pipeline_dbs.warehouse, "select count(*) from desk.cases")[0][0]

    _run_day(daily_dag, AS_OF)  # rerun of the same date: same rows, no duplicates anywhere

    assert _fetch(pipeline_dbs.warehouse, "select count(*) from desk.cases")[0][0] == cases_before
    assert _fetch(pipeline_dbs.warehouse, "select count(*) from desk.customer_exposure")[0][0] == exposure_rows

    after = _fetch(
        pipeline_dbs.warehouse,
        "select customer_id, pd_12m, rating_grade, model_version from ratings.customer_ratings order by 1",
    )
    assert after == before
    assert _fetch(pipeline_dbs.warehouse, "select count(*) from raw_finance.invoices")[0][0] == raw_before
    assert _fetch(pipeline_dbs.warehouse, "select count(*) from ratings.credit_warnings")[0][0] == warnings_before
    runs = _fetch(
        pipeline_dbs.warehouse,
        "select task_id, status from audit.pipeline_runs where dag_id = 'crm_credit_risk_daily' and as_of_date = %s",
        (AS_OF,),
    )
    assert runs and all(status == "success" for _, status in runs)

    # Lineage: each run recorded an asset event for the feature snapshot and for the ratings it wrote.
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        events = dict(session.execute(
            select(AssetModel.name, func.count(AssetEvent.id))
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_dag_id == "crm_credit_risk_daily")
            .group_by(AssetModel.name)
        ).all())
    assert events.get("customer_features", 0) >= 2 and events.get("customer_ratings", 0) >= 2, events
