"""The daily run never trains: without a @champion it fails at once, without retries, saying what to do;
and it announces newly matured labelled cohorts (the Asset that schedules training) only on the day
their default horizon ends."""

from __future__ import annotations

from datetime import date

import pytest

from common.warehouse import transaction
from pipeline import daily


def test_no_champion_fails_without_retries_and_names_the_training_dag(warehouse_url, mlflow_uri):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException) as failure:
        daily.check_champion(date(2026, 10, 31), "run-no-champion")
    message = str(failure.value)
    assert "no @champion version of crm_credit_pd" in message and "credit_model_training" in message
    with transaction(warehouse_url) as cur:
        cur.execute("select task_id, status from audit.pipeline_runs where run_id = 'run-no-champion'")
        assert cur.fetchall() == [("check_champion", "failed")]


def test_with_a_champion_the_check_records_its_version(warehouse_url, mlflow_uri):
    import mlflow
    from mlflow.pyfunc import PythonModel

    from ml import registry
    from ml.tracking import configure_mlflow, model_name

    class Constant(PythonModel):
        def predict(self, context, model_input, params=None):  # noqa: ANN001
            return model_input

    configure_mlflow()
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant(), registered_model_name=model_name())
    registry.make_champion(str(info.registered_model_version), "test champion", actor="test")
    assert daily.check_champion(date(2026, 10, 31), "run-ok") == {"champion": str(info.registered_model_version)}


def test_a_champion_set_in_the_mlflow_ui_without_the_gate_is_put_back_and_audited(warehouse_url, mlflow_uri):
    import json

    import mlflow
    from mlflow import MlflowClient
    from mlflow.pyfunc import PythonModel

    from ml import registry
    from ml.tracking import configure_mlflow, model_name

    class Constant(PythonModel):
        def predict(self, context, model_input, params=None):  # noqa: ANN001
            return model_input

    configure_mlflow()
    versions = []
    for _ in range(2):
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(name="model", python_model=Constant(), registered_model_name=model_name())
        versions.append(str(info.registered_model_version))
    registry.make_champion(versions[0], "the gated champion", actor="test")
    MlflowClient().set_registered_model_alias(model_name(), "champion", versions[1])  # a click in the UI

    detail = daily.check_champion(date(2026, 10, 31), "run-outside")
    assert detail["champion"] == versions[0] and registry.alias_version("champion") == versions[0]
    assert detail["outside_promotion"]["status"] == "refused" and detail["outside_promotion"]["version"] == versions[1]
    with transaction(warehouse_url) as cur:
        cur.execute("select status, detail from audit.pipeline_runs where run_id = 'run-outside'")
        status, stored = cur.fetchone()
    stored = stored if isinstance(stored, dict) else json.loads(stored)
    assert status == "success" and stored["outside_promotion"]["restored"] == versions[0]


def test_matured_labels_are_announced_only_on_the_day_the_horizon_ends(warehouse_url):
    from airflow.sdk.exceptions import AirflowSkipException

    with transaction(warehouse_url) as cur:
        cur.execute(
            "create table marts.customer_default_labels (customer_id text, as_of_date date, "
            "horizon_end_date date, default_flag boolean)"
        )
        cur.execute(
            "insert into marts.customer_default_labels values "
            "('c1', '2025-09-30', '2026-09-30', false), ('c2', '2025-09-30', '2026-09-30', true), "
            "('c1', '2025-10-31', '2026-10-31', false)"
        )
    assert daily.announce_matured_labels(date(2026, 10, 31)) == {"matured_cohorts": ["2025-10-31"]}
    with pytest.raises(AirflowSkipException, match="no labelled cohort matured on 2026-10-30"):
        daily.announce_matured_labels(date(2026, 10, 30))
