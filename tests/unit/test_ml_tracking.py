"""MLflow store defaults: SQLite and artifacts under the state folder, never ./mlruns."""

from __future__ import annotations

import mlflow

from ml.tracking import configure_mlflow


def test_default_store_and_artifacts_live_in_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_RISK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ARTIFACT_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    exp_id = configure_mlflow()
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'state' / 'mlflow' / 'mlflow.db'}"
    location = mlflow.get_experiment(exp_id).artifact_location
    assert location.startswith((tmp_path / "state" / "mlflow" / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=exp_id):
        mlflow.log_text("x", "probe.txt")
    assert not (tmp_path / "mlruns").exists()
    assert configure_mlflow() == exp_id  # idempotent
