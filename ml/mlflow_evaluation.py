"""The project's PD metrics and plots as MLflow's own evaluation: `mlflow.models.evaluate` on static
predictions, and the promotion gate's bars as `MetricThreshold`s checked by `validate_evaluation_results`.

A PD model is not a label classifier: MLflow's built-in classifier metrics would threshold the PD at 0.5.
So the evaluation runs with `model_type=None` on a frame of (target, PD, sample weight) and every figure is
an extra metric computed by `ml.evaluate` (AUC, Gini, KS, Brier, default rate, mean PD, calibration ratio,
PSI against the training grade mix), with the ROC / KS / calibration / score plots as a custom artifact.
The same functions therefore feed the model card, the run's metrics and the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.evaluate import discrimination, grade_distribution, psi
from ml.scale import MasterScale

TARGET_COLUMN, PD_COLUMN, WEIGHT_COLUMN = "defaulted", "pd_12m", "sample_weight"
# metric -> greater is better (the direction validate_evaluation_results needs)
PD_METRICS: dict[str, bool] = {
    "auc": True,
    "gini": True,
    "ks": True,
    "brier": False,
    "default_rate": False,
    "mean_pd": False,
    "calibration_ratio": False,
}


def eval_frame(y: np.ndarray, pd_: np.ndarray, weights: np.ndarray | None = None) -> pd.DataFrame:
    """The frame `mlflow.models.evaluate` reads: target, PD and the sample weight of each row."""
    return pd.DataFrame(
        {
            TARGET_COLUMN: np.asarray(y, dtype=int),
            PD_COLUMN: np.asarray(pd_, dtype=float),
            WEIGHT_COLUMN: np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float),
        }
    )


def _pd_metric(prefix: str, key: str, greater_is_better: bool):
    from mlflow.metrics import MetricValue
    from mlflow.models import make_metric

    name = f"{prefix}{key}"

    def eval_fn(predictions: pd.Series, targets: pd.Series, sample_weight: pd.Series) -> MetricValue:
        value = discrimination(targets.to_numpy(), predictions.to_numpy(), sample_weight.to_numpy())[key]
        return MetricValue(aggregate_results={name: float(value)})

    return make_metric(eval_fn=eval_fn, greater_is_better=greater_is_better, name=name)


def _psi_metric(prefix: str, expected: Mapping[str, float], scale: MasterScale):
    from mlflow.metrics import MetricValue
    from mlflow.models import make_metric

    name = f"{prefix}psi"

    def eval_fn(predictions: pd.Series, sample_weight: pd.Series) -> MetricValue:
        actual = grade_distribution(predictions.to_numpy(), scale, sample_weight.to_numpy())
        return MetricValue(aggregate_results={name: psi(dict(expected), actual)})

    return make_metric(eval_fn=eval_fn, greater_is_better=False, name=name)


def pd_metrics(prefix: str, expected: Mapping[str, float] | None = None, scale: MasterScale | None = None):
    """The project's PD metrics as MLflow extra metrics named `<prefix><metric>`; with the training grade
    mix (`expected`) and the master scale also `<prefix>psi`."""
    metrics = [_pd_metric(prefix, key, better) for key, better in PD_METRICS.items()]
    if expected is not None and scale is not None:
        metrics.append(_psi_metric(prefix, expected, scale))
    return metrics


def plots_artifact(draw: Callable[[Path], list[Path]]):
    """A custom artifact for `mlflow.models.evaluate`: `draw(folder)` writes PNG/CSV files, each becomes
    an artifact of the evaluation named after its file."""

    def plots(eval_df: pd.DataFrame, builtin_metrics: dict[str, float], artifacts_dir: str) -> dict[str, str]:
        return {p.stem: str(p) for p in draw(Path(artifacts_dir))}

    return plots


def evaluate_pd(
    frame: pd.DataFrame,
    prefix: str = "holdout_",
    expected: Mapping[str, float] | None = None,
    scale: MasterScale | None = None,
    artifacts: list[Callable[..., dict[str, str]]] | None = None,
):
    """`mlflow.models.evaluate` of static PDs in the active run; returns MLflow's EvaluationResult
    (its `.metrics` holds `<prefix>auc`, `<prefix>ks`, ... and `<prefix>psi` when `expected` is given)."""
    import mlflow

    return mlflow.models.evaluate(
        data=frame,
        predictions=PD_COLUMN,
        targets=TARGET_COLUMN,
        model_type=None,
        evaluators=["default"],
        extra_metrics=pd_metrics(prefix, expected, scale),
        custom_artifacts=artifacts or None,
    )


# --- the gate as thresholds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of the promotion gate: a metric, its threshold and the sentence a refusal says."""

    metric: str
    threshold: float
    greater_is_better: bool
    explain: str

    def fails(self, value: float) -> bool:
        if not np.isfinite(value):
            return True
        return value < self.threshold if self.greater_is_better else value > self.threshold

    def mlflow_threshold(self):
        from mlflow.models import MetricThreshold

        return MetricThreshold(threshold=float(self.threshold), greater_is_better=self.greater_is_better)


def threshold_failures(bars: list[Bar], result: Any) -> list[str]:
    """Check the bars with `mlflow.validate_evaluation_results` on an EvaluationResult; return one sentence
    per failing bar (empty when MLflow's validation passes)."""
    from mlflow.models.evaluation.validation import (
        ModelValidationFailedException,
        validate_evaluation_results,
    )

    if not bars:
        return []
    try:
        validate_evaluation_results(
            validation_thresholds={b.metric: b.mlflow_threshold() for b in bars},
            candidate_result=result,
        )
        return []
    except ModelValidationFailedException as exc:
        failing = [b.explain for b in bars if b.fails(float(result.metrics.get(b.metric, np.nan)))]
        return failing or [str(exc)]
