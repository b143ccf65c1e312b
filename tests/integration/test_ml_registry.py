"""Training, registry aliases, the promotion gate, rollback, the model-owner CLI and the pyfunc round trip
on a temporary MLflow store (SQLite + local artifacts), with synthetic marts-shaped data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.paths import REPO_ROOT
from devtools.synthetic import synthetic_frame
from ml import registry
from ml.train import train_and_register

KEPT = ["complaint_count_12m", "dispute_count_12m", "industry"]  # weak features the worse model keeps


def _weakened(frame: pd.DataFrame) -> pd.DataFrame:
    """Same holdout, but all but a few weak features carry no signal in the fitting and calibration slices."""
    from ml.dataset import feature_spec

    out = frame.copy()
    dates = np.sort(out["as_of_date"].unique())
    early = out["as_of_date"] < dates[-3]
    rng = np.random.default_rng(0)
    for col in [c for c in feature_spec().names if c not in KEPT]:
        out.loc[early, col] = rng.permutation(out.loc[early, col].to_numpy())
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
           "MLFLOW_ARTIFACT_ROOT": str(folder / "artifacts"), "CRM_RISK_USER": "test-owner"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        frame = synthetic_frame(n_customers=350, n_snapshots=16, seed=5)
        first = train_and_register(frame=frame)
        worse = train_and_register(frame=_weakened(frame))
        second = train_and_register(frame=frame)  # a retrain on the same data: on par, passes the gate
        yield {"env": env, "frame": frame, "first": first, "worse": worse, "second": second, "folder": folder}


def _cli(store, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **store["env"], "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "ml.cli", "models", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_first_version_passing_the_bars_becomes_champion_with_lineage_tags(store):
    first = store["first"]
    assert first["gate"]["status"] == "champion" and first["aliases"] == ["champion"]
    assert first["holdout_auc"] > 0.75
    tags = registry.version_tags(first["version"])
    for key in ("data_window", "snapshot_hash", "code_version", "features", "metrics", "candidate"):
        assert tags[key]
    shares = json.loads(tags["train_grade_distribution"])
    assert sum(shares.values()) == pytest.approx(1.0) and len(shares) >= 8
    assert not list(Path.cwd().glob("mlruns")), "artifacts must not land in ./mlruns"
    assert list((store["folder"] / "artifacts").iterdir())


def test_gate_refuses_a_worse_model_and_says_by_how_much(store):
    worse = store["worse"]
    assert worse["gate"]["status"] == "refused"
    message = registry.version_tags(worse["version"])["gate_message"]
    assert "holdout auc" in message and "short by" in message and f"champion v{store['first']['version']}" in message
    assert registry.alias_version("champion") == store["first"]["version"]


def test_a_passing_challenger_waits_for_the_owner_then_promote_and_rollback(store):
    second, first = store["second"]["version"], store["first"]["version"]
    assert store["second"]["gate"]["status"] == "awaiting_owner", store["second"]
    assert registry.alias_version("challenger") == second

    listing = _cli(store, "list")
    assert listing.returncode == 0, listing.stderr
    assert "champion" in listing.stdout and "challenger" in listing.stdout

    compare = _cli(store, "compare", first, second, "--json")
    assert compare.returncode == 0, compare.stderr
    side = json.loads(compare.stdout.strip().splitlines()[-1])
    assert side["holdout_of"] == second and side[first]["rows"] == side[second]["rows"]

    refused = _cli(store, "promote", store["worse"]["version"], "--reason", "try the worse one")
    assert refused.returncode == 2 and "holdout auc" in refused.stderr

    promoted = _cli(store, "promote", second, "--reason", "better on the latest holdout")
    assert promoted.returncode == 0, promoted.stderr
    assert registry.alias_version("champion") == second
    tags = registry.version_tags(second)
    assert tags["champion_set_by"] == "test-owner" and tags["champion_reason"] == "better on the latest holdout"
    assert tags["champion_set_at"] and tags["previous_champion"] == first
    assert registry.alias_version("challenger") is None

    rolled = _cli(store, "rollback", "--reason", "complaints from credit control")
    assert rolled.returncode == 0, rolled.stderr
    assert registry.alias_version("champion") == first
    demoted = registry.version_tags(second)
    assert demoted["rolled_back_by"] == "test-owner" and demoted["rollback_reason"] == "complaints from credit control"


def test_pyfunc_round_trips_by_alias_in_a_fresh_process(store, tmp_path):
    import mlflow

    rows = store["frame"].sample(200, random_state=3).reset_index(drop=True)
    rows.to_parquet(tmp_path / "rows.parquet")
    registry.champion_exists()  # configures MLflow
    here = mlflow.pyfunc.load_model("models:/crm_credit_pd@champion").predict(rows)
    code = (
        "import sys, pandas as pd, mlflow\n"
        "from ml.tracking import configure_mlflow\n"
        "configure_mlflow()\n"
        "m = mlflow.pyfunc.load_model('models:/crm_credit_pd@champion')\n"
        f"m.predict(pd.read_parquet({str(tmp_path / 'rows.parquet')!r})).to_parquet({str(tmp_path / 'out.parquet')!r})\n"
    )
    env = {**os.environ, **store["env"], "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    there = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_allclose(there["pd_12m"], here["pd_12m"])
    assert there["score"].tolist() == here["score"].tolist()
    assert there["rating_grade"].tolist() == here["rating_grade"].tolist()
    assert [list(r) for r in there["reason_codes"]] == [list(r) for r in here["reason_codes"]]


def test_gate_names_psi_and_calibration_failures_with_their_margins(store):
    import copy

    from common.config import load_config

    cfg = copy.deepcopy(load_config("model"))
    cfg["gate"].update({"max_psi": 0.0, "calibration_ratio": [5.0, 6.0]})
    result = registry.gate(store["first"]["version"], config=cfg)
    assert not result.passed
    text = result.message()
    assert "psi" in text and "over by" in text
    assert "calibration ratio" in text and "outside [5.0, 6.0]" in text


def _artifact(run_id: str, path: str) -> str:
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=tmp)
        return Path(local).read_text()


def test_every_version_carries_a_validation_report_in_its_model_card(store):
    first = store["first"]
    tags = registry.version_tags(first["version"])
    assert tags["validation_report"].endswith("validation_report.md")
    card = _artifact(first["run_id"], "model_card.md")
    assert "## Validation report" in card and "Jeffreys" in card and "### Concentration" in card
    report = json.loads(_artifact(first["run_id"], "validation.json"))
    assert set(report["discrimination"]) == {"fit", "calibration", "out_of_time"}
    for figures in report["discrimination"].values():
        assert 0.5 < figures["auc"] <= 1 and figures["gini"] == pytest.approx(2 * figures["auc"] - 1)
    holdout_rows = report["discrimination"]["out_of_time"]["rows"]
    grades = report["calibration_by_grade"]
    assert sum(g["n"] for g in grades) == holdout_rows and all(0 <= g["p_value"] <= 1 for g in grades)
    assert set(report["csi"]) == set(json.loads(tags["features"]))
    assert sum(report["concentration"]["shares_out_of_time"].values()) == pytest.approx(1.0)
    assert report["grade_migration"]["customers"] > 0


def test_gate_refuses_a_challenger_that_understates_one_grade_and_names_it(store):
    from ml.dataset import TARGET, out_of_time_split

    frame, first = store["frame"], store["first"]["version"]
    holdout = out_of_time_split(frame).holdout
    rated = registry.load_version(first).predict(holdout)
    counts = rated[rated["pd_12m"] < 0.05]["rating_grade"].value_counts()
    grade = str(counts.index[0])
    assert counts.iloc[0] >= 100, counts
    # the same data, but the latest snapshots realise many more defaults in that one grade
    victims = holdout[(rated["rating_grade"] == grade).to_numpy() & (holdout[TARGET] == 0).to_numpy()]
    victims = victims.sample(max(12, len(victims) // 8), random_state=0)[["customer_id", "as_of_date"]]
    worse = frame.merge(victims.assign(hit=1), on=["customer_id", "as_of_date"], how="left")
    worse.loc[worse["hit"] == 1, TARGET] = 1
    out = train_and_register(frame=worse.drop(columns="hit"))
    assert out["gate"]["status"] == "refused", out["gate"]
    named = [f for f in out["gate"]["failures"] if f.startswith(f"grade {grade} fails calibration")]
    assert named and "Jeffreys p" in named[0] and "mean PD" in named[0], out["gate"]["failures"]
    refused = _cli(store, "promote", out["version"], "--reason", "try it anyway")
    assert refused.returncode == 2 and f"grade {grade} fails calibration" in refused.stderr


def test_candidates_are_evaluated_by_mlflow_with_the_projects_metrics_plots_and_datasets(store):
    from mlflow import MlflowClient

    first = store["first"]
    client = MlflowClient()
    parent = client.get_run(first["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{first['run_id']}'"
    )
    assert {r.data.tags["mlflow.runName"] for r in children} >= {first["chosen"]}
    for run in children:
        metrics = run.data.metrics
        for key in ("holdout_auc", "holdout_gini", "holdout_ks", "holdout_brier", "holdout_calibration_ratio",
                    "holdout_psi"):
            assert np.isfinite(metrics[key]), (run.data.tags["mlflow.runName"], key)
        assert metrics["holdout_gini"] == pytest.approx(2 * metrics["holdout_auc"] - 1)
        logged = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert any(p.endswith(".png") for p in logged) and "eval_results_table.json" not in logged, logged
    chosen = next(r for r in children if r.data.tags["mlflow.runName"] == first["chosen"])
    assert chosen.data.metrics["holdout_auc"] == pytest.approx(first["holdout_auc"])
    inputs = {(d.dataset.name, t.value) for d in parent.inputs.dataset_inputs for t in d.tags
              if t.key == "mlflow.data.context"}
    assert inputs == {("customer_features_training", "training"), ("customer_features_holdout", "holdout")}
    rows = [json.loads(d.dataset.profile)["num_rows"] for d in parent.inputs.dataset_inputs]
    assert sum(rows) > 1000


def test_a_version_has_its_model_card_as_description_and_an_input_example(store):
    import mlflow

    from ml.dataset import feature_spec

    version = store["first"]["version"]
    described = mlflow.MlflowClient().get_model_version("crm_credit_pd", version).description
    assert described.startswith("# ") and "Validation report" in described
    assert len(described) <= registry.DESCRIPTION_LIMIT
    info = mlflow.models.get_model_info(f"models:/crm_credit_pd/{version}")
    assert info.saved_input_example_info is not None
    example = mlflow.models.Model.load(f"models:/crm_credit_pd/{version}").load_input_example(
        mlflow.artifacts.download_artifacts(f"models:/crm_credit_pd/{version}"))
    assert len(example) == 5 and list(example.columns) == list(feature_spec().names)
    rated = registry.load_version(version).predict(example)
    assert rated["pd_12m"].between(0, 1).all()


def test_the_gate_runs_as_an_mlflow_evaluation_with_nested_runs_per_version(store):
    from mlflow import MlflowClient

    worse, first = store["worse"]["version"], store["first"]["version"]
    client = MlflowClient()
    experiment = client.get_run(store["first"]["run_id"]).info.experiment_id
    runs = client.search_runs([experiment], filter_string=f"tags.mlflow.runName = 'gate-v{worse}-vs-v{first}'")
    assert runs, "the registration's gate leaves a run (and every `models promote` another)"
    assert all(r.data.tags["gate_result"] == "refused" for r in runs)
    gate_run = runs[-1]  # the first: at registration
    assert "short by" in gate_run.data.tags["gate_message"]
    nested = client.search_runs([gate_run.info.experiment_id],
                                filter_string=f"tags.mlflow.parentRunId = '{gate_run.info.run_id}'")
    assert {r.data.tags["mlflow.runName"] for r in nested} == {f"v{worse}", f"v{first}"}
    by_version = {r.data.tags["model_version"]: r.data.metrics for r in nested}
    assert by_version[worse]["holdout_auc"] < by_version[first]["holdout_auc"]
    assert gate_run.data.metrics["gate_champion_auc"] == pytest.approx(by_version[first]["holdout_auc"])


def test_a_promotion_made_outside_the_tools_is_refused_unless_the_version_passed_the_gate(store):
    from mlflow import MlflowClient

    client = MlflowClient()
    before = registry.alias_version("champion")
    worse = store["worse"]["version"]
    client.set_registered_model_alias("crm_credit_pd", "champion", worse)  # what the MLflow UI does
    outcome = registry.guard_champion(actor="test")
    assert outcome["status"] == "refused" and outcome["restored"] == before
    assert registry.alias_version("champion") == before
    assert "without passing the promotion gate" in registry.version_tags(worse)["outside_promotion_refused"]
    assert registry.guard_champion(actor="test") is None  # nothing moved since

    passed = store["second"]["version"]
    assert registry.version_tags(passed)["gate_result"] == "passed"
    client.set_registered_model_alias("crm_credit_pd", "champion", passed)
    outcome = registry.guard_champion(actor="test")
    assert outcome["status"] == "accepted" and registry.alias_version("champion") == passed
    assert registry.champion_history()[-1] == passed
    rolled, restored = registry.rollback("back to the champion before the test", actor="test")
    assert (rolled, restored) == (passed, before)
