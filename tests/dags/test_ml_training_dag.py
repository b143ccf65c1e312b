"""credit_model_training end to end through Airflow (dag.test), on a synthetic marts-shaped frame."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


def test_training_dag_is_weekly_or_on_matured_labels_one_run_at_a_time_with_mapped_candidates(training_dag):
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    from pipeline.operations import LABELLED_SNAPSHOTS

    assert isinstance(training_dag.timetable, AssetOrTimeSchedule)
    assert isinstance(training_dag.timetable.timetable, CronDataIntervalTimetable)
    assert training_dag.timetable.timetable.expression == "0 3 * * 0"
    assert training_dag.timetable.asset_condition == LABELLED_SNAPSHOTS
    assert training_dag.max_active_runs == 1 and training_dag.catchup is False
    assert training_dag.default_args["owner"] == "model-owners" and training_dag.default_args["retries"] == 2
    assert set(training_dag.tags) == {"credit-risk", "ml"}
    assert training_dag.task_dict["train_candidate"].is_mapped
    assert training_dag.task_ids == ["build_training_set", "candidate_names", "train_candidate", "evaluate",
                                     "register", "gate"]


@pytest.mark.slow
def test_training_dag_run_registers_a_champion(training_dag, mlflow_uri, monkeypatch):
    from devtools.synthetic import synthetic_frame
    from ml import dataset, registry

    monkeypatch.setattr(dataset, "load_training_frame",
                        lambda url=None, as_of_date=None: synthetic_frame(n_customers=300, n_snapshots=12, seed=2))
    dagrun = training_dag.test(logical_date=datetime(2026, 11, 29, 3, tzinfo=UTC))
    assert dagrun.state == "success"
    assert registry.champion_exists()
    tags = registry.version_tags(registry.alias_version("champion"))
    assert tags["train_grade_distribution"] and tags["snapshot_hash"]
