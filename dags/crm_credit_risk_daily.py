"""
### crm_credit_risk_daily

Every day, for the data interval `[D, D+1)`: extract CRM and finance changes into raw, gate the raw
batch, build the point-in-time feature snapshot for `D` with dbt, gate it, check that a `@champion` model
exists (models come only from `credit_model_training`: without one the run fails and says so), score
every active customer in `scoring.partitions` hash partitions (config/model.yml; one mapped task each,
taken by the workers in parallel, a failed partition retried alone) and publish, once every partition
is staged and in one transaction, ratings, credit decisions, early warnings and monitoring to the
`ratings` schema, then e-mail the day's new critical warnings, and last score the `@challenger` model
in shadow (`model_shadow.scores`, never published) for the champion-challenger view. On a day a
snapshot's default horizon ends, the Asset `customer_default_labels` is updated, which schedules
`credit_model_training`.

Each task is idempotent for its interval: a rerun replaces the same rows. A failed critical quality
gate stops the run before scoring. Logic lives in `pipeline/daily.py`; this file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, chain, dag, task

from pipeline.operations import (
    CREDIT_MODEL,
    FEATURE_SNAPSHOT,
    LABELLED_SNAPSHOTS,
    RATINGS,
    failure_notifier,
    publish_deadline,
)

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    # a hung source or a lock must not hold the day's run forever: fail, retry, alert
    "execution_timeout": timedelta(hours=2),
}


@dag(
    dag_id="crm_credit_risk_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # warning episodes depend on the previous day's state
    default_args=DEFAULT_ARGS,
    tags=["credit-risk", "daily"],
    doc_md=__doc__,
    on_failure_callback=failure_notifier(),  # one e-mail per failed run (config/warnings.yml alerting)
    deadline=publish_deadline(),  # "ratings not published by 06:00 UTC"
)
def crm_credit_risk_daily():
    @task
    def prepare_warehouse() -> list[str]:
        from pipeline import daily

        return daily.prepare_warehouse()

    @task
    def extract_crm(data_interval_start=None, data_interval_end=None, run_id=None) -> list[dict]:
        from pipeline import daily

        return daily.extract("crm", data_interval_start, data_interval_end, run_id)

    @task
    def extract_finance(data_interval_start=None, data_interval_end=None, run_id=None) -> list[dict]:
        from pipeline import daily

        return daily.extract("finance", data_interval_start, data_interval_end, run_id)

    @task(multiple_outputs=False)
    def gate_raw(data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
        from pipeline import daily

        return {
            stage: daily.gate(stage, run_id, data_interval_start, data_interval_end)
            for stage in ("raw_crm", "raw_finance")
        }

    @task(outlets=[FEATURE_SNAPSHOT])
    def build_features(data_interval_end=None, run_id=None) -> str:
        from pipeline import daily

        return daily.build_features(daily.as_of_date(data_interval_end), run_id)

    @task(multiple_outputs=False)
    def gate_features(data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
        from pipeline import daily

        return daily.gate("features", run_id, data_interval_start, data_interval_end)

    @task(multiple_outputs=False, outlets=[LABELLED_SNAPSHOTS])
    def announce_matured_labels(data_interval_end=None) -> dict:
        """Skipped unless a snapshot's default horizon ended today; then its Asset event starts training."""
        from pipeline import daily

        return daily.announce_matured_labels(daily.as_of_date(data_interval_end))

    @task(multiple_outputs=False, inlets=[CREDIT_MODEL])
    def check_champion(data_interval_end=None, run_id=None) -> dict:
        """Fail clearly (no retries) when there is no @champion: only credit_model_training trains."""
        from pipeline import daily

        return daily.check_champion(daily.as_of_date(data_interval_end), run_id)

    @task(inlets=[CREDIT_MODEL])
    def plan_scoring(data_interval_end=None, run_id=None) -> list[int]:
        """Resolve @champion once and split the book into config/model.yml scoring.partitions parts."""
        from pipeline import daily

        return daily.plan_scoring(daily.as_of_date(data_interval_end), run_id)

    @task(multiple_outputs=False, inlets=[FEATURE_SNAPSHOT])
    def score_partition(partition: int, data_interval_end=None, run_id=None) -> dict:
        """One partition scored and staged; the workers take the partitions in parallel, and a failed
        partition is retried alone."""
        from pipeline import daily

        return daily.score_partition(daily.as_of_date(data_interval_end), run_id, partition)

    @task(multiple_outputs=False, inlets=[FEATURE_SNAPSHOT, CREDIT_MODEL], outlets=[RATINGS])
    def score_and_publish(data_interval_end=None, run_id=None) -> dict:
        """Every partition staged: gate the ratings, publish the day in one transaction."""
        from pipeline import daily

        return daily.publish(daily.as_of_date(data_interval_end), run_id)

    @task
    def alert_critical_warnings(data_interval_end=None, run_id=None) -> int:
        from pipeline import daily

        return daily.alert(daily.as_of_date(data_interval_end), run_id)

    @task(multiple_outputs=False)
    def refresh_desk(data_interval_end=None, run_id=None) -> dict:
        """The credit desk: exposure snapshot refreshed, cases opened for the day's decisions/warnings."""
        from pipeline import daily

        return daily.refresh_desk(daily.as_of_date(data_interval_end), run_id)

    @task(multiple_outputs=False)
    def shadow_score_challenger(data_interval_end=None, run_id=None) -> dict:
        from pipeline import daily

        return daily.shadow(daily.as_of_date(data_interval_end), run_id)

    features_gated = gate_features()
    planned = plan_scoring()
    chain(
        prepare_warehouse(),
        extract_crm(),
        extract_finance(),
        gate_raw(),
        build_features(),
        features_gated,
        check_champion(),
        planned,
        score_partition.expand(partition=planned),
        score_and_publish(),
        refresh_desk(),
        alert_critical_warnings(),
        shadow_score_challenger(),
    )
    features_gated >> announce_matured_labels()


crm_credit_risk_daily()
