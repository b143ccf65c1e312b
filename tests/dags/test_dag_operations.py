"""What the DAGs declare for operations: Assets for lineage, airflow.sdk imports only, explicit
multiple_outputs, a failure e-mail and a publishing deadline (sent through a real local SMTP server)."""

from __future__ import annotations

import email
import os
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from common.paths import REPO_ROOT
from pipeline.operations import (
    CREDIT_MODEL,
    DEADLINE_SWITCH,
    FEATURE_SNAPSHOT,
    LABELLED_SNAPSHOTS,
    RATINGS,
    operations_recipients,
)
from tests.helpers.smtp import local_smtp

DAG_FILES = sorted((REPO_ROOT / "dags").glob("*.py"))


def _parse(deadlines: str) -> dict:
    """The DAGs as the DAG processor parses them, with deadline alerts on or off."""
    from airflow.dag_processing.dagbag import DagBag

    saved = os.environ.get(DEADLINE_SWITCH)
    os.environ[DEADLINE_SWITCH] = deadlines
    try:
        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    finally:
        if saved is None:
            os.environ.pop(DEADLINE_SWITCH, None)
        else:
            os.environ[DEADLINE_SWITCH] = saved
    assert bag.import_errors == {}
    return bag.dags


@pytest.fixture(scope="module")
def dags():
    return _parse("on")


def test_dag_files_import_airflow_only_through_the_task_sdk():
    for path in DAG_FILES:
        imports = re.findall(r"^\s*(?:from|import) (airflow[\w.]*)", path.read_text(), flags=re.M)
        assert imports, f"{path.name} should import the Airflow SDK"
        assert all(name == "airflow.sdk" for name in imports), f"{path.name} imports {imports}"


def test_no_task_relies_on_implicit_multiple_outputs(dags):
    for dag in dags.values():
        for t in dag.tasks:
            # A task annotated `-> dict` would silently push one XCom per key without the explicit False.
            assert getattr(t, "multiple_outputs", False) is False, f"{dag.dag_id}.{t.task_id}"


def test_assets_link_features_model_and_ratings(dags):
    daily, training = dags["crm_credit_risk_daily"], dags["credit_model_training"]
    assert FEATURE_SNAPSHOT in daily.get_task("build_features").outlets
    assert RATINGS in daily.get_task("score_and_publish").outlets
    assert {FEATURE_SNAPSHOT, CREDIT_MODEL} <= set(daily.get_task("score_and_publish").inlets)
    assert FEATURE_SNAPSHOT in training.get_task("build_training_set").inlets
    assert CREDIT_MODEL in training.get_task("register").outlets
    # training is scheduled on the labelled-snapshots Asset that only the daily run's announcement emits
    assert LABELLED_SNAPSHOTS in daily.get_task("announce_matured_labels").outlets
    assert training.timetable.asset_condition == LABELLED_SNAPSHOTS
    assert "gate_features" in daily.get_task("announce_matured_labels").upstream_task_ids


def test_daily_deadline_is_six_utc_the_morning_after_the_interval(dags):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk import DeadlineReference

    (alert,) = dags["crm_credit_risk_daily"].deadline
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    logical = datetime(2026, 11, 1, tzinfo=UTC)  # the run for [Nov 1, Nov 2) starts Nov 2 00:00
    assert logical + alert.interval == datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    assert alert.callback.path == f"{SmtpNotifier.__module__}.{SmtpNotifier.__qualname__}"
    assert alert.callback.kwargs["to"] == operations_recipients()
    assert "06:00 UTC" in alert.callback.kwargs["subject"]


def test_one_process_dags_test_runs_parse_without_the_deadline():
    # Dag.test in Airflow 3.3.2 cannot finish a run with a deadline; those paths switch it off.
    assert not _parse("off")["crm_credit_risk_daily"].deadline


def test_failed_run_sends_one_email_naming_the_dag_date_and_task(dags, monkeypatch):
    dag = dags["crm_credit_risk_daily"]
    callbacks = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    assert len(callbacks) == 1
    start = datetime(2026, 11, 1, tzinfo=UTC)
    context = {
        "dag": dag, "run_id": "scheduled__2026-11-02T00:00:00+00:00", "ds": "2026-11-01",
        "ti": SimpleNamespace(task_id="score_and_publish", try_number=3),
        "data_interval_start": start, "data_interval_end": start + timedelta(days=1),
    }
    with local_smtp(monkeypatch) as inbox:
        callbacks[0](context)
    assert len(inbox.messages) == 1
    envelope = inbox.messages[0]
    assert envelope.rcpt_tos == operations_recipients()
    message = email.message_from_bytes(envelope.content)
    assert message["Subject"] == "[credit-risk] crm_credit_risk_daily failed for 2026-11-01"
    body = "".join(part.get_payload(decode=True).decode() for part in message.walk() if part.get_content_type() == "text/html")
    assert "score_and_publish" in body and "try 3" in body and "2026-11-02" in body
