"""
### crm_credit_events

Re-rates a customer within a minute of a credit event (payment overdue or received, default event,
dispute opened, bureau downgrade, limit request). The source systems publish each event as a JSON
message on Redis (connection `credit_events`); the triggerer watches the channel (`AssetWatcher` with
the `MessageQueueTrigger`) and every message updates the Asset `credit_events`, which schedules this
DAG. Messages that arrive while a run is busy wait for the next run, which takes them all at once.

A run stores the messages (`events.inbox`, or `events.rejected_events` with the reason), extracts
every source row changed since the watermark with the daily loader (intraday batches: quarantine and
audit counts as usual; a message lost while the triggerer was down is found here), builds the changed
and named customers' features for the current date with the daily feature SQL, scores them with
`@champion` and publishes intraday rating versions, decisions and warnings (`rating_kind = intraday`,
visible in `ratings.current_customer_ratings` and `ratings.open_credit_warnings`). The daily run of that
date supersedes them. Logic lives in `pipeline/events.py`; docs/events.md explains the design.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import chain, dag, task

from pipeline.operations import FEATURE_SNAPSHOT, RATINGS, credit_events_asset, failure_notifier

CREDIT_EVENTS = credit_events_asset()

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 3,
    "retry_delay": timedelta(seconds=20),  # a re-rating is worth little an hour late
    "execution_timeout": timedelta(minutes=15),
}


@dag(
    dag_id="crm_credit_events",
    schedule=[CREDIT_EVENTS],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # the events that arrive meanwhile coalesce into the next run
    default_args=DEFAULT_ARGS,
    tags=["credit-risk", "events"],
    doc_md=__doc__,
    on_failure_callback=failure_notifier(),
)
def crm_credit_events():
    @task(multiple_outputs=False)
    def receive_events(run_id=None, triggering_asset_events=None) -> dict:
        from pipeline import events

        messages = [
            event.extra.get("payload", event.extra)
            for asset_events in (triggering_asset_events or {}).values()
            for event in asset_events
        ]
        return events.receive_task(messages, run_id)

    @task(multiple_outputs=False)
    def extract_changes(run_id=None) -> dict:
        from pipeline import events

        return events.extract_task(run_id)

    @task(multiple_outputs=False, inlets=[FEATURE_SNAPSHOT], outlets=[RATINGS])
    def rerate_customers(received: dict, extracted: dict, run_id=None) -> dict:
        from pipeline import events

        return events.rerate_task(run_id, received, extracted)

    received = receive_events()
    extracted = extract_changes()
    chain(received, extracted)
    rerate_customers(received, extracted)


crm_credit_events()
