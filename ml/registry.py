"""Model registry: versions of crm_credit_pd, aliases @challenger / @champion and the promotion gate.

Every alias move records who, when and why as version tags, and the champion history is kept as a tag
of the registered model so `rollback` restores the previous champion.
"""

from __future__ import annotations

import getpass
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from common.config import load_config

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"


class PromotionRefused(RuntimeError):
    """A promotion the model promotion gate refused; the message says which metric failed and by how much."""


@dataclass
class PromotionDecision:
    """The model promotion gate's verdict on a version (not a data quality gate: see expectations.gate)."""

    version: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def message(self) -> str:
        if self.passed:
            return f"version {self.version} passes the gate"
        return f"version {self.version} refused: " + "; ".join(self.failures)


def _client():
    from mlflow import MlflowClient

    from ml.tracking import configure_mlflow

    configure_mlflow()
    return MlflowClient()


def _name() -> str:
    from ml.tracking import model_name

    return model_name()


def registered_model_name() -> str:
    """The registered model's name (config/model.yml model_name): what scoring records beside a version."""
    return _name()


def who() -> str:
    return os.environ.get("CRM_RISK_USER") or getpass.getuser()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def tag_version(version: str, tags: dict[str, str]) -> None:
    client = _client()
    for key, value in tags.items():
        client.set_model_version_tag(_name(), str(version), key, str(value))


DESCRIPTION_LIMIT = 4800  # characters the registry keeps of a version's description (the model card)


def describe_version(version: str, card: str) -> None:
    """The model card as the version's description (what the MLflow UI shows on the version's page);
    a card longer than the registry keeps is cut with a pointer to the full artifact."""
    if len(card) > DESCRIPTION_LIMIT:
        tail = "\n\n... (cut: the full card is the artifact model_card.md of the training run)"
        card = card[: DESCRIPTION_LIMIT - len(tail)] + tail
    _client().update_model_version(_name(), str(version), description=card)


def version_tags(version: str) -> dict[str, str]:
    return dict(_client().get_model_version(_name(), str(version)).tags)


def alias_version(alias: str) -> str | None:
    """The version an alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client().get_model_version_by_alias(_name(), alias).version)
    except MlflowException:
        return None


def champion_exists() -> bool:
    """True when crm_credit_pd@champion points at a version."""
    return alias_version(CHAMPION) is not None


def aliases_of(version: str) -> list[str]:
    return list(_client().get_model_version(_name(), str(version)).aliases)


def load_version(version: str):
    import mlflow.pyfunc

    _client()
    return mlflow.pyfunc.load_model(f"models:/{_name()}/{version}")


@dataclass(frozen=True)
class Champion:
    """The model that scores: its pyfunc plus what the registry records about the version."""

    name: str
    version: str
    model: Any
    train_distribution: dict[str, float] | None = None


def train_distribution(tags: dict[str, str]) -> dict[str, float] | None:
    """The version tag `train_grade_distribution` (JSON {grade: share}, written at training), if any."""
    raw = tags.get("train_grade_distribution")
    if not raw:
        return None
    return {str(k): float(v) for k, v in json.loads(raw).items()}


def load_champion(version: str | None = None, *, with_model: bool = True) -> Champion:
    """The version @champion resolves to (or the given version), loaded by its number (the number every
    rating records). with_model=False reads only what the registry records about it (publishing a day
    whose partitions were scored elsewhere needs the version's training grade mix, not the model)."""
    import mlflow.pyfunc

    client = _client()
    if version is None:
        record = client.get_model_version_by_alias(_name(), CHAMPION)
    else:
        record = client.get_model_version(_name(), str(version))
    model = mlflow.pyfunc.load_model(f"models:/{_name()}/{record.version}") if with_model else None
    return Champion(_name(), str(record.version), model, train_distribution(dict(record.tags or {})))


def set_alias(alias: str, version: str, reason: str = "", actor: str | None = None) -> None:
    """Point an alias at a version and record who, when and why on the version."""
    client = _client()
    client.set_registered_model_alias(_name(), alias, str(version))
    stamp = {f"{alias}_set_by": actor or who(), f"{alias}_set_at": _now(), f"{alias}_reason": reason[:500]}
    tag_version(version, stamp)


def champion_history() -> list[str]:
    """Champions in promotion order (the last is the current one); [] before the first."""
    from mlflow.exceptions import MlflowException

    try:
        model = _client().get_registered_model(_name())
    except MlflowException:
        return []
    return json.loads(model.tags.get(HISTORY_TAG, "[]"))


def _set_history(history: list[str]) -> None:
    _client().set_registered_model_tag(_name(), HISTORY_TAG, json.dumps(history))


def make_champion(version: str, reason: str, actor: str | None = None) -> None:
    """Move @champion to a version (no gate here: callers gate first) and remember the previous one."""
    version = str(version)
    previous = alias_version(CHAMPION)
    set_alias(CHAMPION, version, reason, actor)
    tag_version(version, {"previous_champion": previous or ""})
    history = [v for v in champion_history() if v != version] + [version]
    _set_history(history)
    if alias_version(CHALLENGER) == version:
        _client().delete_registered_model_alias(_name(), CHALLENGER)


# --- evaluation on a holdout ----------------------------------------------------------------------


def holdout_of(version: str) -> pd.DataFrame:
    """The out-of-time holdout a version was evaluated on (logged with its training run)."""
    import mlflow

    run_id = version_tags(version).get("run_id") or _client().get_model_version(_name(), str(version)).run_id
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="data/holdout.parquet", dst_path=tmp
        )
        return pd.read_parquet(path)


def metrics_on(version: str, holdout: pd.DataFrame, rated: pd.DataFrame | None = None) -> dict[str, float]:
    """A version's discrimination and calibration metrics on a holdout frame (`rated`: its ratings of
    that frame, when already computed)."""
    from ml.dataset import TARGET
    from ml.evaluate import discrimination

    rated = load_version(version).predict(holdout) if rated is None else rated
    return discrimination(holdout[TARGET].to_numpy(), rated["pd_12m"].to_numpy())


def grade_calibration_on(
    holdout: pd.DataFrame, rated: pd.DataFrame, config: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Jeffreys test per grade of a version's ratings of a holdout, and the failures that refuse it
    (config/model.yml gate.grade_calibration)."""
    from ml.dataset import TARGET
    from ml.scale import load_master_scale
    from ml.validation import calibration_failures, grade_calibration_tests

    cfg = (config or load_config("model"))["gate"].get("grade_calibration", {})
    tests = grade_calibration_tests(
        holdout[TARGET].to_numpy(),
        rated["pd_12m"].to_numpy(),
        rated["rating_grade"].astype(str).to_numpy(),
        load_master_scale(),
        alpha=float(cfg.get("alpha", 0.01)),
        min_observations=int(cfg.get("min_observations", 100)),
    )
    return tests, calibration_failures(tests, bool(cfg.get("refuse_overestimates", False)))


def minimum_bar_failures(version: str, config: dict[str, Any] | None = None) -> list[str]:
    """Which minimum bars (config/model.yml) a version misses, with the shortfall."""
    bars = (config or load_config("model"))["minimum_bars"]
    tags = version_tags(version)
    metrics = json.loads(tags.get("metrics", "{}"))
    out = []
    if metrics.get("auc", 0.0) < bars["auc"]:
        out.append(
            f"holdout auc {metrics.get('auc', 0):.4f} < minimum {bars['auc']:.4f} "
            f"(short by {bars['auc'] - metrics.get('auc', 0):.4f})"
        )
    if metrics.get("ks", 0.0) < bars["ks"]:
        out.append(
            f"holdout ks {metrics.get('ks', 0):.4f} < minimum {bars['ks']:.4f} "
            f"(short by {bars['ks'] - metrics.get('ks', 0):.4f})"
        )
    psi = float(metrics.get("psi", np.inf))
    if psi >= bars["max_psi"]:
        out.append(f"psi {psi:.4f} >= maximum {bars['max_psi']:.4f} (over by {psi - bars['max_psi']:.4f})")
    return out


def _evaluate_version(version: str, holdout: pd.DataFrame, rated: pd.DataFrame, scale) -> Any:
    """`mlflow.models.evaluate` of a version's ratings of the holdout, in a nested run named after it."""
    import mlflow

    from ml.dataset import TARGET, row_weights
    from ml.mlflow_evaluation import eval_frame, evaluate_pd

    expected = train_distribution(version_tags(version))
    frame = eval_frame(holdout[TARGET].to_numpy(), rated["pd_12m"].to_numpy(), row_weights(holdout))
    with mlflow.start_run(run_name=f"v{version}", nested=True):
        mlflow.set_tag("model_version", version)
        return evaluate_pd(frame, "holdout_", expected=expected, scale=scale if expected else None)


def gate_bars(
    cfg: dict[str, Any], mine: dict[str, float], champion: str | None, theirs: dict[str, float] | None
):
    """The gate's bars as thresholds on the challenger's evaluation (`mine`: its metrics): AUC not below
    the champion's on the same holdout minus the tolerance, PSI below the maximum, the calibration ratio
    inside its band (two bars: the ratio and its inverse)."""
    from ml.mlflow_evaluation import Bar

    bars = []
    if champion and theirs is not None:
        floor = theirs["holdout_auc"] - cfg["auc_tolerance"]
        auc = mine.get("holdout_auc", float("nan"))
        bars.append(
            Bar(
                "holdout_auc",
                floor,
                True,
                f"holdout auc {auc:.4f} < champion v{champion} {theirs['holdout_auc']:.4f} - tolerance "
                f"{cfg['auc_tolerance']:.4f} = {floor:.4f} (short by {floor - auc:.4f})",
            )
        )
    if "holdout_psi" in mine:
        value = mine["holdout_psi"]
        bars.append(
            Bar(
                "holdout_psi",
                # MLflow passes a value equal to the threshold; the gate refuses PSI >= max_psi
                float(np.nextafter(cfg["max_psi"], -np.inf)),
                False,
                f"psi {value:.4f} >= {cfg['max_psi']:.4f} (over by {value - cfg['max_psi']:.4f})",
            )
        )
    lo, hi = cfg["calibration_ratio"]
    ratio = mine.get("holdout_calibration_ratio", float("nan"))
    by = lo - ratio if ratio < lo else ratio - hi
    explain = f"calibration ratio (mean PD / default rate) {ratio:.3f} outside [{lo}, {hi}] (by {by:.3f})"
    bars.append(Bar("holdout_calibration_ratio", float(hi), False, explain))
    bars.append(Bar("holdout_inverse_calibration_ratio", 1.0 / float(lo), False, explain))
    return bars


def gate(
    challenger: str, champion: str | None = None, config: dict[str, Any] | None = None
) -> PromotionDecision:
    """Challenger vs champion on the challenger's holdout, in an MLflow run `gate-v<N>-vs-v<M>`: both
    evaluated with `mlflow.models.evaluate` (nested runs), the bars (AUC, PSI, calibration ratio) checked
    by `validate_evaluation_results`, then the calibration of every grade with enough rows (Jeffreys test;
    the refusal names the grade)."""
    import mlflow

    from ml.mlflow_evaluation import threshold_failures
    from ml.scale import load_master_scale

    full = config or load_config("model")
    cfg = full["gate"]
    challenger = str(challenger)
    champion = champion or alias_version(CHAMPION)
    holdout = holdout_of(challenger)
    rated = load_version(challenger).predict(holdout)
    scale = load_master_scale()
    against = f"v{champion}" if champion and champion != challenger else "none"
    with mlflow.start_run(
        run_name=f"gate-v{challenger}-vs-{against}", nested=mlflow.active_run() is not None
    ):
        evaluated = _evaluate_version(challenger, holdout, rated, scale)
        mine = dict(evaluated.metrics)
        ratio = mine.get("holdout_calibration_ratio", float("nan"))
        mine["holdout_inverse_calibration_ratio"] = 1.0 / ratio if ratio else float("inf")
        evaluated.metrics["holdout_inverse_calibration_ratio"] = mine["holdout_inverse_calibration_ratio"]
        theirs = None
        if champion and champion != challenger:
            theirs = dict(
                _evaluate_version(champion, holdout, load_version(champion).predict(holdout), scale).metrics
            )
        failures = threshold_failures(gate_bars(cfg, mine, champion, theirs), evaluated)
        metrics = {
            "challenger_auc": mine["holdout_auc"],
            "psi": mine.get("holdout_psi", float(version_tags(challenger).get("psi", "nan"))),
            "calibration_ratio": ratio,
        }
        if theirs is not None:
            metrics["champion_auc"] = theirs["holdout_auc"]
        tests, grade_failures = grade_calibration_on(holdout, rated, full)
        failures += grade_failures
        metrics["grades_judged"] = float(sum(t["judged"] for t in tests))
        metrics["grades_failing_calibration"] = float(len(grade_failures))
        if tests:
            metrics["min_grade_calibration_p"] = (
                min(t["p_value"] for t in tests if t["judged"]) if any(t["judged"] for t in tests) else 1.0
            )
        decision = PromotionDecision(challenger, not failures, failures, metrics)
        mlflow.log_metrics({f"gate_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.set_tags(
            {
                "challenger_version": challenger,
                "champion_version": champion or "",
                "gate_result": "passed" if decision.passed else "refused",
                "gate_message": decision.message()[:4000],
            }
        )
    return decision


def _record_gate(result: PromotionDecision) -> None:
    tag_version(
        result.version,
        {
            "gate_result": "passed" if result.passed else "refused",
            "gate_message": result.message()[:4000],
            "gate_metrics": json.dumps({k: round(v, 6) for k, v in result.metrics.items()}),
            "gate_at": _now(),
        },
    )


def assess_new_version(version: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """After registration: minimum bars -> @challenger; first passing version -> @champion; else gate.

    With gate.auto_promote the gate promotes a passing challenger; otherwise it waits for a model owner
    (`python -m ml.cli models promote VERSION --reason ...`).
    """
    cfg = config or load_config("model")
    version = str(version)
    guard_champion(actor="training")
    misses = minimum_bar_failures(version, cfg)
    if misses:
        tag_version(version, {"minimum_bars": "failed: " + "; ".join(misses)})
        return {"status": "below_minimum_bars", "failures": misses}
    tag_version(version, {"minimum_bars": "passed"})
    if not champion_exists():
        make_champion(version, "first version passing the minimum bars", actor="training")
        return {"status": "champion", "failures": []}
    set_alias(CHALLENGER, version, "passed the minimum bars", actor="training")
    result = gate(version, config=cfg)
    _record_gate(result)
    if result.passed and cfg["gate"].get("auto_promote", False):
        make_champion(version, "gate passed (auto_promote)", actor="training")
        return {"status": "champion", "failures": [], "gate": result.metrics}
    status = "awaiting_owner" if result.passed else "refused"
    return {"status": status, "failures": result.failures, "gate": result.metrics}


def guard_champion(actor: str = "pipeline") -> dict[str, Any] | None:
    """Detect a @champion moved outside these tools (in the MLflow UI or API) since the last recorded
    promotion, and accept it only when the version passed the gate.

    Returns None when the alias is where the champion history says; else what was done:
    {"status": "accepted" | "refused", "version", "restored", "reason"}. A refused move puts the alias
    back on the previous champion (or removes it when there was none) and tags the version with the
    refusal. A registry without champion history (set up by hand) adopts its current champion as is.
    """
    current = alias_version(CHAMPION)
    history = champion_history()
    if current is None or not history:
        if current is not None:
            _set_history([current])
        return None
    if history[-1] == current:
        return None
    tags = version_tags(current)
    if tags.get("gate_result") == "passed":
        _set_history([v for v in history if v != current] + [current])
        tag_version(
            current,
            {
                "champion_set_by": f"outside the pipeline's tools, accepted by {actor}",
                "champion_set_at": _now(),
                "champion_reason": "promoted outside ml.cli; the version had passed the gate",
                "previous_champion": history[-1],
            },
        )
        return {"status": "accepted", "version": current, "restored": None, "reason": "gate passed"}
    reason = (
        f"v{current} became @{CHAMPION} outside ml.cli without passing the promotion gate "
        f"(gate_result: {tags.get('gate_result', 'never run')}); @{CHAMPION} restored to v{history[-1]}"
    )
    _client().set_registered_model_alias(_name(), CHAMPION, history[-1])
    tag_version(current, {"outside_promotion_refused_at": _now(), "outside_promotion_refused": reason[:500]})
    return {"status": "refused", "version": current, "restored": history[-1], "reason": reason}


def promote(version: str, reason: str, actor: str | None = None, force: bool = False) -> PromotionDecision:
    """A model owner promotes a version: the gate runs first; force overrides a refusal (recorded)."""
    if not reason.strip():
        raise ValueError("a promotion needs a reason")
    result = gate(str(version))
    _record_gate(result)
    if not result.passed and not force:
        raise PromotionRefused(result.message())
    note = reason if result.passed else f"FORCED over gate refusal ({'; '.join(result.failures)}): {reason}"
    make_champion(str(version), note, actor)
    return result


def rollback(reason: str, actor: str | None = None) -> tuple[str, str]:
    """Restore the previous champion; returns (demoted, restored)."""
    history = champion_history()
    current = alias_version(CHAMPION)
    if current is None or len(history) < 2:
        raise RuntimeError("no previous champion to roll back to")
    if history[-1] != current:  # alias moved outside these tools: trust the alias
        history = [v for v in history if v != current] + [current]
    restored = history[-2]
    _client().set_registered_model_alias(_name(), CHAMPION, restored)
    stamp = {"rolled_back_by": actor or who(), "rolled_back_at": _now(), "rollback_reason": reason[:500]}
    tag_version(current, stamp)
    tag_version(
        restored,
        {
            "champion_set_by": actor or who(),
            "champion_set_at": _now(),
            "champion_reason": f"rollback from v{current}: {reason}"[:500],
        },
    )
    _set_history(history[:-1])
    return current, restored
