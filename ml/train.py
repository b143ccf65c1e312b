"""Training: build the out-of-time training set, fit the candidates, evaluate, log and register.

Entry points:
- `train_and_register(url=None, as_of_date=None) -> dict` runs everything in one process (used by the
  daily DAG when no champion exists, and by tests);
- the steps `build_training_set`, `fit_candidate_file`, `evaluate_candidates`, `register_chosen`
  (the weekly `credit_model_training` DAG runs them as separate tasks, passing only paths and ids);
- `python -m ml.train --train FILE --valid FILE --target COL ...` runs the same candidate search on any
  labelled table brought by a user (see `main`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from common.config import load_config
from common.paths import REPO_ROOT, state_dir
from ml import dataset
from ml.candidates import BOOSTED, CANDIDATES, CreditModel, ScorecardModel, TreeModel, fit_candidate
from ml.evaluate import evaluate, flat_metrics, information_values, model_card, save_plots, to_json
from ml.mlflow_evaluation import eval_frame, evaluate_pd, plots_artifact
from ml.scale import load_master_scale, score_for_pd
from ml.validation import findings, report_markdown, validation_report

PIP_REQUIREMENTS_PACKAGES = ("scikit-learn", "optbinning", "pandas", "numpy", "scipy", "mlflow", "pyyaml")


def code_version() -> str:
    """Short git sha of the checked-out code, or 'unknown' outside a git checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return sha or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pip_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in PIP_REQUIREMENTS_PACKAGES:
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            continue
    return out


def work_dir() -> Path:
    path = state_dir() / "ml" / "training"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- step 1: training set -------------------------------------------------------------------------

SAMPLING_FILE = "sampling.json"


def build_training_set(
    url: str | None = None,
    as_of_date: Any = None,
    out_dir: Path | None = None,
    frame: pd.DataFrame | None = None,
    warmup_months: int | None = None,
) -> str:
    """Write the (sampled) labelled snapshots to a parquet file; return its path.

    From the marts, `dataset.load_training_frame` reads a bounded sample chunk by chunk (config/model.yml
    `sample`); a given frame is sampled the same way in memory. Beside the parquet file, sampling.json
    records the rows available and used per slice, the sampling rates and the snapshot hash.
    """
    if frame is None:
        extra: dict[str, Any] = {} if warmup_months is None else {"warmup_months": warmup_months}
        frame = dataset.load_training_frame(url, as_of_date, **extra)
    plan = frame.attrs.get("sample_plan")
    if plan is None or dataset.WEIGHT not in frame.columns:
        frame, plan = dataset.sample_frame(frame)
    else:  # read from the marts: already sampled, weighted and compact
        spec = dataset.feature_spec()
        keep = [*dataset.KEY, *spec.names, "in_default", dataset.TARGET, dataset.WEIGHT]
        frame = frame[[c for c in keep if c in frame.columns]]
    frame.attrs = {}  # the plan goes to sampling.json, not into the parquet metadata
    cal_from, hold_from = plan.calibration.first_date, plan.holdout.first_date
    when = frame["as_of_date"]
    used = {
        "fit": int((when < cal_from).sum()),
        "calibration": int(((when >= cal_from) & (when < hold_from)).sum()),
        "holdout": int((when >= hold_from).sum()),
    }
    digest = dataset.snapshot_hash(frame)
    folder = Path(out_dir or work_dir()) / f"{digest}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "training_set.parquet"
    frame.to_parquet(path, index=False)
    settings = dataset.sample_settings()
    (folder / SAMPLING_FILE).write_text(
        json.dumps(
            {
                "snapshot_hash": digest,
                "slices": plan.summary(used),
                "caps": {
                    k: settings[k] for k in ("max_fit_rows", "max_calibration_rows", "max_holdout_rows")
                },
            },
            indent=2,
        )
    )
    return str(path)


def sampling_of(dataset_path: str) -> dict[str, Any]:
    """sampling.json of a training set (rows available/used per slice, rates, snapshot hash)."""
    path = Path(dataset_path).parent / SAMPLING_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def sampling_params(sampling: dict[str, Any]) -> dict[str, Any]:
    """MLflow params of the sample: rows available and used, overall and per slice, and the rates."""
    slices = sampling.get("slices", {})
    if not slices:
        return {}
    available = sum(s["rows_available"] for s in slices.values())
    used = sum(s.get("rows_used", 0) for s in slices.values())
    out: dict[str, Any] = {
        "rows_available": available,
        "rows_used": used,
        "sampling_rate": round(used / available, 6) if available else 1.0,
        "rows_used_for_fit": slices["fit"].get("rows_used", 0),
    }
    for name, s in slices.items():
        out[f"{name}_rows_available"] = s["rows_available"]
        out[f"{name}_rows_used"] = s.get("rows_used", 0)
        out[f"{name}_default_rate_sampled"] = round(s["default_rate"], 6)
        out[f"{name}_non_default_rate_sampled"] = round(s["non_default_rate"], 6)
    for key, cap in sampling.get("caps", {}).items():
        out[f"sample_{key}"] = cap
    return out


def _load_split(dataset_path: str) -> tuple[dataset.Split, dataset.FeatureSpec]:
    frame = pd.read_parquet(dataset_path)
    return dataset.out_of_time_split(frame), dataset.feature_spec()


# --- step 2: candidates ---------------------------------------------------------------------------


def enabled_candidates(config: dict[str, Any] | None = None) -> list[str]:
    cfg = (config or load_config("model"))["candidates"]
    return [name for name in CANDIDATES if cfg.get(name, {}).get("enabled", True)]


def fit_candidate_file(dataset_path: str, name: str) -> str:
    """Fit and calibrate one candidate on the training set file; pickle it beside the file."""
    split, spec = _load_split(dataset_path)
    model = fit_candidate(
        name,
        dataset.model_matrix(split.fit, spec),
        split.fit[dataset.TARGET].to_numpy(),
        dataset.model_matrix(split.calibration, spec),
        split.calibration[dataset.TARGET].to_numpy(),
        spec,
        load_config("model"),
        load_config("rating_scale")["score_scaling"],
        w_fit=dataset.row_weights(split.fit),
        w_cal=dataset.row_weights(split.calibration),
    )
    path = Path(dataset_path).parent / f"candidate_{name}.joblib"
    joblib.dump(model, path)
    return str(path)


# --- step 3: evaluation and selection -------------------------------------------------------------


def choose(scores: dict[str, float], tolerance: float, preferred: str | None = "scorecard") -> str:
    """Best selection score; the `preferred` candidate (config/model.yml `selection.preferred`, the
    explainable scorecard) wins when its score is within `tolerance` of the best."""
    best = max(scores, key=lambda name: scores[name])
    if preferred and preferred in scores and scores[preferred] >= scores[best] - tolerance:
        return preferred
    return best


def auc_by_date(
    y: np.ndarray, p: np.ndarray, dates: Any, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Out-of-time AUC per snapshot date (dates with both classes only)."""
    from sklearn.metrics import roc_auc_score

    frame = pd.DataFrame({"y": np.asarray(y, dtype=int), "p": p, "d": pd.to_datetime(dates)})
    frame["w"] = 1.0 if weights is None else np.asarray(weights, dtype=float)
    out = {}
    for day, part in frame.groupby("d"):
        if part["y"].nunique() == 2:
            out[f"{day:%Y-%m-%d}"] = float(roc_auc_score(part["y"], part["p"], sample_weight=part["w"]))
    return out


def selection_score(auc: float, aucs_by_date: dict[str, float], penalty: float) -> float:
    """Out-of-time AUC minus `penalty` x the standard deviation of the AUC across snapshot dates."""
    spread = float(np.std(list(aucs_by_date.values()))) if len(aucs_by_date) >= 2 else 0.0
    return auc - penalty * spread


def selection_settings(cfg: dict[str, Any]) -> tuple[float, float, str | None]:
    """(stability penalty, preference tolerance, preferred candidate) from config/model.yml `selection`."""
    sel = cfg["selection"]
    return (
        float(sel.get("stability_penalty", 0.0)),
        float(sel["scorecard_tolerance"]),
        sel.get("preferred", "scorecard"),
    )


def _log_candidate(
    name: str,
    model: CreditModel,
    split: dataset.Split,
    X_fit: pd.DataFrame,
    X_hold: pd.DataFrame,
    scale,
    scale_cfg: dict[str, Any],
    tmp: Path,
) -> dict[str, Any]:
    import mlflow

    y_fit, y_hold = split.fit[dataset.TARGET].to_numpy(), split.holdout[dataset.TARGET].to_numpy()
    w_fit, w_hold = dataset.row_weights(split.fit), dataset.row_weights(split.holdout)
    t0 = time.perf_counter()
    pd_fit, pd_hold = model.predict_pd(X_fit), model.predict_pd(X_hold)
    result = evaluate(y_fit, pd_fit, y_hold, pd_hold, scale, w_fit, w_hold)
    result["auc_by_date"] = auc_by_date(y_hold, pd_hold, split.holdout["as_of_date"], w_hold)
    with mlflow.start_run(run_name=name, nested=True) as run:
        mlflow.log_params(
            {
                "candidate": name,
                **{f"p_{k}": str(v)[:250] for k, v in model.params.items()},
                "calibration_a": model.calibration.a,
                "calibration_b": model.calibration.b,
            }
        )
        mlflow.log_metrics({k: v for k, v in flat_metrics(result).items() if k.startswith("train_")})
        mlflow.log_metric(
            "holdout_auc_std_by_date", float(np.std(list(result["auc_by_date"].values()) or [0]))
        )
        mlflow.log_metric("predict_seconds", time.perf_counter() - t0)
        folder = tmp / name

        def draw(_: Path) -> list[Path]:
            paths = save_plots(
                folder,
                y_hold,
                pd_hold,
                score_for_pd(pd_fit, scale_cfg),
                score_for_pd(pd_hold, scale_cfg),
                result["calibration"],
                name,
            )
            result["calibration"].to_csv(folder / "calibration_by_grade.csv", index=False)
            paths.append(folder / "calibration_by_grade.csv")
            if isinstance(model, ScorecardModel):
                model.table().to_csv(folder / "scorecard_points.csv", index=False)
                paths.append(folder / "scorecard_points.csv")
            return paths

        # holdout_* metrics, holdout_psi (train -> holdout grade mix) and the plots: MLflow's evaluation
        evaluated = evaluate_pd(
            eval_frame(y_hold, pd_hold, w_hold),
            "holdout_",
            expected=result["train_grade_distribution"],
            scale=scale,
            artifacts=[plots_artifact(draw)],
        )
        mlflow.log_metric("psi", evaluated.metrics["holdout_psi"])
        result["run_id"] = run.info.run_id
    return result


def validate_chosen(
    model: CreditModel,
    split: dataset.Split,
    spec: dataset.FeatureSpec,
    X_fit: pd.DataFrame,
    X_hold: pd.DataFrame,
    scale,
    cfg: dict[str, Any],
) -> dict[str, Any]:
    """The validation report (ml.validation) of the chosen candidate on its out-of-time split."""
    X_cal = dataset.model_matrix(split.calibration, spec)
    slices = {
        name: (
            part[dataset.TARGET].to_numpy(),
            model.predict_pd(X),
            dataset.row_weights(part),
        )
        for name, part, X in (
            ("fit", split.fit, X_fit),
            ("calibration", split.calibration, X_cal),
            ("out_of_time", split.holdout, X_hold),
        )
    }
    used = [c for c in model.input_features if c in X_fit.columns]
    return validation_report(
        slices=slices,
        features={"fit": split.fit[used], "out_of_time": split.holdout[used]},
        keys_oot=split.holdout,
        scale=scale,
        cfg=cfg.get("validation", {}),
        numeric=set(spec.numeric),
    )


def validation_metrics(report: dict[str, Any]) -> dict[str, float]:
    """MLflow metrics of the validation report: per-slice discrimination, stability, concentration."""
    out = {
        f"validation_{s}_{k}": float(v)
        for s, m in report["discrimination"].items()
        for k, v in m.items()
        if k in ("auc", "gini", "ks") and np.isfinite(v)
    }
    out["validation_grade_psi"] = report["grade_psi"]
    out["validation_max_csi"] = max(report["csi"].values(), default=0.0)
    out["validation_max_grade_share"] = max(
        report["concentration"]["shares_out_of_time"].values(), default=0.0
    )
    out["validation_grades_failing_calibration"] = float(
        sum(t["verdict"] == "underestimates" for t in report["calibration_by_grade"])
    )
    if report["grade_migration"]:
        out["validation_same_grade_share"] = report["grade_migration"]["same_grade"]
    return out


INPUT_EXAMPLE_ROWS = 5


def log_datasets(split: dataset.Split, features: list[str], digest: str, source: str) -> None:
    """Log the fit and out-of-time slices the version was built on as MLflow datasets (inputs of the
    training run: name, digest, schema, row count), named after where they came from."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    columns = [c for c in [*features, dataset.TARGET, "as_of_date"] if c in split.fit.columns]
    for context, part in (("training", split.fit), ("holdout", split.holdout)):
        data = from_pandas(
            part[columns].reset_index(drop=True),
            name=f"customer_features_{context}" if source == "marts" else f"{source}_{context}",
            targets=dataset.TARGET,
            digest=f"{digest[:16]}-{context}",
        )
        mlflow.log_input(data, context=context)


def evaluate_candidates(
    dataset_path: str, model_paths: dict[str, str], source: str = "marts"
) -> dict[str, Any]:
    """Log every candidate (nested runs) under one parent run, choose one; return small ids and paths."""
    import mlflow

    from ml.tracking import configure_mlflow

    configure_mlflow()
    cfg, scale_cfg = load_config("model"), load_config("rating_scale")
    scale = load_master_scale(scale_cfg)
    split, spec = _load_split(dataset_path)
    models = {name: joblib.load(path) for name, path in model_paths.items()}
    sampling = sampling_of(dataset_path)
    digest = sampling.get("snapshot_hash") or dataset.snapshot_hash(pd.read_parquet(dataset_path))
    X_fit, X_hold = dataset.model_matrix(split.fit, spec), dataset.model_matrix(split.holdout, spec)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=f"train-{digest[:8]}") as parent:
        results = {
            name: _log_candidate(name, m, split, X_fit, X_hold, scale, scale_cfg, Path(tmp))
            for name, m in models.items()
        }
        aucs = {name: r["holdout"]["auc"] for name, r in results.items()}
        penalty, tolerance, preferred = selection_settings(cfg)
        scores = {
            n: selection_score(r["holdout"]["auc"], r["auc_by_date"], penalty) for n, r in results.items()
        }
        chosen = choose(scores, tolerance, preferred)
        ivs = information_values(
            X_fit,
            split.fit[dataset.TARGET].to_numpy(),
            list(spec.numeric),
            list(spec.categorical),
            weights=dataset.row_weights(split.fit),
        )
        res = results[chosen]
        validation = validate_chosen(models[chosen], split, spec, X_fit, X_hold, scale, cfg)
        del X_fit
        window = split.window()
        mlflow.log_params(
            {
                "chosen": chosen,
                "source": source,
                "snapshot_hash": digest,
                "code_version": code_version(),
                **{f"window_{k}": v for k, v in window.items()},
                **sampling_params(sampling),
            }
        )
        mlflow.log_metrics(flat_metrics(res))
        mlflow.log_metrics({f"iv_{k}": v for k, v in ivs.items()})
        mlflow.log_metrics({f"candidate_auc_{k}": v for k, v in aucs.items()})
        mlflow.log_metrics({f"candidate_selection_score_{k}": v for k, v in scores.items()})
        mlflow.log_metrics(validation_metrics(validation))
        chosen_model = models[chosen]
        features = chosen_model.selected if isinstance(chosen_model, ScorecardModel) else spec.names
        card = model_card(
            name=cfg["model_name"],
            candidate=chosen,
            window=window,
            features=list(features),
            result=res,
            ivs=ivs,
            comparison={n: r["holdout"] for n, r in results.items()},
            snapshot_hash=digest,
            code_version=code_version(),
            sampling=sampling.get("slices"),
            scorecard_table=chosen_model.table() if isinstance(chosen_model, ScorecardModel) else None,
        )
        card += "\n" + report_markdown(validation, f"{cfg['model_name']} ({chosen})")
        mlflow.log_text(card, "model_card.md")
        log_datasets(split, list(features), digest, source)
        mlflow.log_text(
            report_markdown(validation, f"{cfg['model_name']} ({chosen})"), "validation_report.md"
        )
        mlflow.log_text(to_json(validation), "validation.json")
        mlflow.log_artifacts(str(Path(tmp) / chosen), artifact_path="evaluation")
        holdout_path = Path(tmp) / "holdout.parquet"
        split.holdout.to_parquet(holdout_path, index=False)
        mlflow.log_artifact(str(holdout_path), artifact_path="data")
        summary = {
            "run_id": parent.info.run_id,
            "chosen": chosen,
            "chosen_path": model_paths[chosen],
            "snapshot_hash": digest,
            "code_version": code_version(),
            "window": window,
            "features": list(features),
            "holdout": res["holdout"],
            "psi": res["psi"],
            "train_grade_distribution": res["train_grade_distribution"],
            "candidate_auc": aucs,
            "selection_score": scores,
            "validation_findings": findings(validation),
            "sampling": sampling_params(sampling),
        }
        folder = Path(dataset_path).parent
        card_path = folder / "model_card.md"
        card_path.write_text(card)
        example_path = folder / "input_example.parquet"
        split.holdout[list(spec.names)].head(INPUT_EXAMPLE_ROWS).to_parquet(example_path, index=False)
        summary["model_card_path"], summary["input_example_path"] = str(card_path), str(example_path)
        summary_path = folder / "evaluation.json"
        summary_path.write_text(json.dumps(summary, indent=2, default=str))
        mlflow.log_artifact(str(summary_path))
    return {"run_id": parent.info.run_id, "chosen": chosen, "summary_path": str(summary_path)}


# --- step 4: log the pyfunc and register a version -----------------------------------------------


def build_pyfunc(model: CreditModel):
    from ml.pyfunc_model import CreditPDModel

    cfg = load_config("model")
    return CreditPDModel(
        model,
        load_config("rating_scale"),
        load_config("reason_codes"),
        top_n=int(cfg.get("reasons", {}).get("top_n", 4)),
    )


def register_chosen(evaluation: dict[str, Any]) -> dict[str, Any]:
    """Log the chosen candidate as a pyfunc in the training run and register a version with its tags."""
    import mlflow

    from ml import registry
    from ml.pyfunc_model import model_signature
    from ml.tracking import configure_mlflow, model_name

    configure_mlflow()
    summary = json.loads(Path(evaluation["summary_path"]).read_text())
    model = joblib.load(summary["chosen_path"])
    name = model_name()
    with mlflow.start_run(run_id=evaluation["run_id"]):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=build_pyfunc(model),
            pip_requirements=pip_requirements(),
            registered_model_name=name,
            signature=model_signature(),
            input_example=pd.read_parquet(summary["input_example_path"]),
        )
    version = str(info.registered_model_version)
    registry.describe_version(version, Path(summary["model_card_path"]).read_text())
    h = summary["holdout"]
    tags = {
        "candidate": summary["chosen"],
        "data_window": json.dumps(summary["window"]),
        "holdout_window": summary["window"]["holdout"],
        "snapshot_hash": summary["snapshot_hash"],
        "code_version": summary["code_version"],
        "features": json.dumps(summary["features"]),
        "metrics": json.dumps(
            {k: round(float(v), 6) for k, v in h.items()} | {"psi": round(summary["psi"], 6)}
        ),
        "holdout_auc": f"{h['auc']:.6f}",
        "psi": f"{summary['psi']:.6f}",
        "calibration_ratio": f"{h['calibration_ratio']:.6f}",
        "train_grade_distribution": json.dumps(summary["train_grade_distribution"]),
        "run_id": evaluation["run_id"],
        "model_card": f"runs:/{evaluation['run_id']}/model_card.md",
        "validation_report": f"runs:/{evaluation['run_id']}/validation_report.md",
        "validation_findings": json.dumps(summary.get("validation_findings", []))[:4000],
    }
    registry.tag_version(version, tags)
    return {
        "version": version,
        "run_id": evaluation["run_id"],
        "chosen": summary["chosen"],
        "holdout_auc": h["auc"],
        "psi": summary["psi"],
    }


def train_and_register(
    url: str | None = None, as_of_date: Any = None, frame: pd.DataFrame | None = None, gate: bool = True
) -> dict[str, Any]:
    """Build the training set, fit all candidates, evaluate, register a version and run the gate.

    Returns {"version", "run_id", "chosen", "holdout_auc", "psi", "aliases", "gate"}.
    """
    from ml import registry

    path = build_training_set(url, as_of_date, frame=frame)
    paths = {name: fit_candidate_file(path, name) for name in enabled_candidates()}
    evaluation = evaluate_candidates(path, paths)
    out = register_chosen(evaluation)
    if gate:
        out["gate"] = registry.assess_new_version(out["version"])
        out["aliases"] = registry.aliases_of(out["version"])
    return out


# --- bring your own table -------------------------------------------------------------------------


def read_table(path: str) -> pd.DataFrame:
    if str(path).lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def stratified_folds(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) per row, each fold with the same share of defaults; k=1 gives a fifth in
    fold 0 (the calibration part) and the rest in fold 1, which is then not used for selection."""
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(y), dtype=int)
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        folds[idx] = np.arange(len(idx)) % max(k, 5) if k == 1 else np.arange(len(idx)) % k
    if k == 1:
        folds = np.where(folds == 0, 0, -1)  # only fold 0 exists: selection on it alone
    return folds


def refit_on_all(
    name: str,
    first: CreditModel,
    X: pd.DataFrame,
    y: np.ndarray,
    X_cal: pd.DataFrame,
    y_cal: np.ndarray,
    spec: dataset.FeatureSpec,
    cfg: dict[str, Any],
    scaling: dict[str, Any],
) -> CreditModel:
    """The chosen candidate refitted on the whole train table with the settings chosen on the split
    (the L2 strength, the boosting rounds early stopping found), keeping the Platt map fitted on the
    held-out calibration part: a table without a time axis has no rows to spare, and the map learnt
    out of sample transfers to a refit of the same form with the same settings."""
    import copy

    frozen = copy.deepcopy(cfg)
    settings = frozen["candidates"][name]
    if name == "logistic":
        settings.update(C=[first.params["C_chosen"]], numeric=first.params["numeric_chosen"])
    if isinstance(first, TreeModel) and name in BOOSTED:
        settings.update(max_iter=int(first.clf.n_iter_), early_stopping=False)
    model = fit_candidate(name, X, y, X_cal, y_cal, spec, frozen, scaling)
    model.calibration = first.calibration
    if isinstance(model, ScorecardModel):
        model.finish(X)  # best points depend on the calibration's slope
    return model


def logistic_tuned_on_folds(
    model: CreditModel,
    fold_models: list[CreditModel],
    X: pd.DataFrame,
    y: np.ndarray,
    cal: np.ndarray,
    spec: dataset.FeatureSpec,
    cfg: dict[str, Any],
    scaling: dict[str, Any],
) -> CreditModel:
    """The logistic candidate with its design and C chosen by cross-validation over the selection folds.

    Each fold's fit tuned (design, C) on its own held-out fold of train; fold 0 alone (a fifth of train)
    is a noisy judge on a small table, so the log-losses are averaged over the folds (K-fold CV, still
    on train only) and, when that choice differs from fold 0's, the fold-0 model is refitted with it
    and recalibrated on fold 0 (so the Platt map kept by `refit_on_all` belongs to the chosen settings).
    """
    import copy

    from ml.logistic import LogisticModel, settings_by_folds

    settings = cfg["candidates"]["logistic"]
    if not all(isinstance(m, LogisticModel) for m in fold_models) or len(fold_models) < 2:
        return model
    chosen = settings_by_folds(
        [m for m in fold_models if isinstance(m, LogisticModel)], float(settings.get("spline_min_gain", 0.0))
    )
    if chosen is None:
        return model
    design, C = chosen
    if (design, C) != (model.params["numeric_chosen"], model.params["C_chosen"]):
        frozen = copy.deepcopy(cfg)
        frozen["candidates"]["logistic"].update(C=[C], numeric=design)
        model = fit_candidate("logistic", X[~cal], y[~cal], X[cal], y[cal], spec, frozen, scaling)
    model.params = {**model.params, "C": settings.get("C"), "numeric": settings.get("numeric")}
    model.params.update(tuned_on="cross-validation", tuning_folds=len(fold_models))
    return model


def run_byo(
    train_file: str,
    valid_file: str,
    target: str,
    id_column: str | None,
    predictions_out: str,
    metrics_out: str,
    seed: int = 0,
) -> dict[str, Any]:
    """Candidate search, selection and calibration on any labelled table; valid is the holdout."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from ml.evaluate import discrimination
    from ml.pyfunc_model import model_signature
    from ml.tracking import configure_mlflow

    train, valid = read_table(train_file), read_table(valid_file)
    for name, frame in (("train", train), ("valid", valid)):
        if target not in frame.columns:
            raise SystemExit(f"target column {target!r} not in the {name} table")
    exclude = [target] + ([id_column] if id_column else [])
    spec = dataset.infer_spec(train, exclude)
    y = pd.to_numeric(train[target], errors="coerce")
    if not set(y.dropna().unique()) <= {0, 1}:
        raise SystemExit(f"target {target!r} must be 0/1")
    train = train[y.notna()].reset_index(drop=True)
    y = y[y.notna()].astype(int).to_numpy()
    cfg = load_config("model")
    # No time axis in a user table: stratified folds of train (never valid). Fold 0 (a fifth) calibrates
    # the models kept; every fold in turn scores the candidates for the selection.
    folds = stratified_folds(y, int(cfg.get("byo", {}).get("selection_folds", 5)), seed)
    cal = folds == 0
    X = dataset.model_matrix(train, spec)
    Xv = dataset.model_matrix(valid, spec)
    # No documented direction of risk in a user table: the monotone candidate takes the sign of each
    # feature's rank correlation with the target on the fitting part, where it is clear.
    min_rho = float(cfg["candidates"].get("hgb_monotone", {}).get("min_abs_correlation", 0.05))
    spec = dataset.infer_directions(X[~cal], y[~cal], spec, min_rho)
    yv = pd.to_numeric(valid[target], errors="coerce").fillna(0).astype(int).to_numpy()
    scaling = load_config("rating_scale")["score_scaling"]
    configure_mlflow(f"{cfg.get('experiment', 'crm_credit_pd')}_byo")
    selection: dict[str, float] = {}
    penalty, tolerance, preferred = selection_settings(cfg)  # the spread is across folds here
    results, models = {}, {}
    with mlflow.start_run(run_name=f"byo-{Path(train_file).stem}") as run:
        mlflow.log_params(
            {
                "train_file": str(train_file),
                "valid_file": str(valid_file),
                "target": target,
                "numeric": len(spec.numeric),
                "categorical": len(spec.categorical),
                "risk_directions": json.dumps(dict(spec.directions))[:500],
            }
        )
        for name in enabled_candidates(cfg):
            try:
                model = fit_candidate(name, X[~cal], y[~cal], X[cal], y[cal], spec, cfg, scaling)
                # chosen on folds of train: the valid table stays an untouched holdout
                fold_auc = {"0": discrimination(y[cal], model.predict_pd(X[cal]))["auc"]}
                fold_models = [model]
                for k in range(1, int(folds.max()) + 1):
                    part = folds == k
                    other = fit_candidate(name, X[~part], y[~part], X[part], y[part], spec, cfg, scaling)
                    fold_auc[str(k)] = discrimination(y[part], other.predict_pd(X[part]))["auc"]
                    fold_models.append(other)
                if name == "logistic":
                    model = logistic_tuned_on_folds(model, fold_models, X, y, cal, spec, cfg, scaling)
            except ValueError as exc:  # e.g. no feature passes the scorecard's IV selection
                mlflow.log_param(f"skipped_{name}", str(exc)[:250])
                continue
            models[name] = model
            selection[name] = selection_score(float(np.mean(list(fold_auc.values()))), fold_auc, penalty)
            mlflow.log_metric(f"{name}_selection_score", selection[name])
            results[name] = discrimination(yv, model.predict_pd(Xv))
            mlflow.log_metrics({f"{name}_{k}": v for k, v in results[name].items() if np.isfinite(v)})
        chosen = choose(selection, tolerance, preferred)
        if cfg.get("byo", {}).get("refit_on_all", True):
            models[chosen] = refit_on_all(chosen, models[chosen], X, y, X[cal], y[cal], spec, cfg, scaling)
            results[chosen] = discrimination(yv, models[chosen].predict_pd(Xv))
            mlflow.log_param("refit_on_all", True)
        pd_valid = models[chosen].predict_pd(Xv)
        metrics: dict[str, Any] = {k: results[chosen][k] for k in ("auc", "gini", "ks", "brier")}
        metrics.update(
            {
                "chosen_model": chosen,
                "run_id": run.info.run_id,
                "candidates": {n: r["auc"] for n, r in results.items()},
                "selection_auc": selection,
            }
        )
        mlflow.log_param("chosen", chosen)
        mlflow.log_metrics({k: metrics[k] for k in ("auc", "gini", "ks", "brier")})
        mlflow.pyfunc.log_model(
            name="model",
            python_model=build_pyfunc(models[chosen]),
            pip_requirements=pip_requirements(),
            signature=model_signature(),
            input_example=train[list(spec.names)].head(INPUT_EXAMPLE_ROWS),
        )
        for context, table in (("training", train), ("holdout", valid)):
            mlflow.log_input(
                from_pandas(table, name=f"{Path(train_file).stem}_{context}", targets=target),
                context=context,
            )
    ids = valid[id_column] if id_column else pd.Series(np.arange(len(valid)), name="row")
    out = pd.DataFrame({ids.name: ids.to_numpy(), "pd": pd_valid})
    if str(predictions_out).lower().endswith((".parquet", ".pq")):
        out.to_parquet(predictions_out, index=False)
    else:
        out.to_csv(predictions_out, index=False)
    Path(metrics_out).write_text(json.dumps(metrics, indent=2))
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.train",
        description="Train without arguments on the marts; or bring your own labelled table (--train ...).",
    )
    parser.add_argument("--train", help="labelled training table (CSV or Parquet)")
    parser.add_argument("--valid", help="labelled validation table, used as the holdout")
    parser.add_argument("--target", help="0/1 target column")
    parser.add_argument("--id", dest="id_column", help="id column copied to the predictions")
    parser.add_argument("--predictions-out", help="file for the valid rows' pd (CSV or Parquet)")
    parser.add_argument("--metrics-out", help="file for the metrics JSON")
    parser.add_argument("--as-of-date", help="marts mode: use labels matured by this date")
    args = parser.parse_args(argv)
    if args.train:
        missing = [o for o in ("valid", "target", "predictions_out", "metrics_out") if not getattr(args, o)]
        if missing:
            parser.error("--train needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
        metrics = run_byo(
            args.train, args.valid, args.target, args.id_column, args.predictions_out, args.metrics_out
        )
        print(json.dumps(metrics, indent=2))
        return 0
    print(json.dumps(train_and_register(as_of_date=args.as_of_date), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
