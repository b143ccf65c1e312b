"""Where MLflow keeps runs, models and artifacts: one place that sets it up."""

from __future__ import annotations

import os
from pathlib import Path

from common.config import load_config
from common.paths import state_dir


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else a SQLite store in the local state folder."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    folder = state_dir() / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def artifact_root() -> str:
    """MLFLOW_ARTIFACT_ROOT, else <state>/mlflow/artifacts (never ./mlruns of the working directory)."""
    root = os.environ.get("MLFLOW_ARTIFACT_ROOT")
    path = Path(root) if root else state_dir() / "mlflow" / "artifacts"
    if "://" in str(root or ""):
        return str(root)
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve().as_uri()


def model_name() -> str:
    return str(load_config("model").get("model_name", "crm_credit_pd"))


def configure_mlflow(experiment: str | None = None) -> str:
    """Point MLflow at the store and make sure the experiment exists with our artifact root.

    Returns the experiment id. Safe to call many times.
    """
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    name = experiment or str(load_config("model").get("experiment", "crm_credit_pd"))
    found = mlflow.get_experiment_by_name(name)
    if found is None:
        # A tracking server manages its own artifact store unless MLFLOW_ARTIFACT_ROOT says otherwise;
        # a local store (SQLite, files) gets <state>/mlflow/artifacts instead of ./mlruns.
        remote = uri.startswith(("http://", "https://", "databricks"))
        location = (
            None if remote and not os.environ.get("MLFLOW_ARTIFACT_ROOT") else f"{artifact_root()}/{name}"
        )
        try:
            exp_id = mlflow.create_experiment(name, artifact_location=location)
        except Exception:  # noqa: BLE001 - created concurrently by another task: use it
            found = mlflow.get_experiment_by_name(name)
            if found is None:
                raise
            exp_id = found.experiment_id
    else:
        exp_id = found.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id
