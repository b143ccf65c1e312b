"""Champion-challenger on live data: @challenger scored in shadow beside the published @champion, on a
real warehouse and a real MLflow store, and the model owner's side-by-side once labels mature."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import numpy as np
import pytest
from mlflow import MlflowClient

from common.paths import REPO_ROOT
from common.warehouse import transaction
from ml.champion_challenger import paired_rows, side_by_side
from ml.evaluate import discrimination
from ml.registry import load_champion
from ratings.publish import score_and_publish
from ratings.shadow import score_challenger
from tests.helpers.contract_model import MODEL_NAME, mlflow_store, register_contract_model, synthetic_features
from tests.helpers.ratings import load_features
from tests.helpers.sql import fetch

D1, D2 = date(2025, 3, 31), date(2025, 4, 30)
N = 400


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """@champion v1 and @challenger v2 (another fit), registered once for the module."""
    folder = tmp_path_factory.mktemp("mlflow")
    with mlflow_store(folder, "shadow-test") as uri:
        champion = register_contract_model(seed=0)
        challenger = register_contract_model(seed=3)
        client = MlflowClient()
        client.set_registered_model_alias(MODEL_NAME, "champion", champion)
        client.set_registered_model_alias(MODEL_NAME, "challenger", challenger)
        yield {"uri": uri, "champion": champion, "challenger": challenger, "artifacts": str(folder / "artifacts")}


@pytest.fixture
def rated_book(warehouse_url: str, store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Two published dates, the first with matured labels (default = more than 30 days past due)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    champion = load_champion()
    for i, d in enumerate((D1, D2)):
        load_features(warehouse_url, synthetic_features(N, d, seed=10 + i))
        score_and_publish(d, f"run-{d}", warehouse_url, champion=champion)
    with transaction(warehouse_url) as cur:
        cur.execute("create table marts.customer_default_labels (customer_id text, as_of_date date,"
                    " horizon_end_date date, default_flag integer, first_default_date date)")
        cur.execute("insert into marts.customer_default_labels select customer_id, as_of_date, as_of_date + 365,"
                    " (dpd_current > 30 or share_paid_late_12m > 0.9)::int, null from marts.customer_features"
                    " where as_of_date = %s", (D1,))
    return warehouse_url


def test_challenger_is_scored_in_shadow_and_a_rerun_replaces_its_rows(rated_book: str, store) -> None:
    result = score_challenger(D1, "run-a", rated_book, chunk_size=128)
    assert result.status == "scored" and result.rows == N
    assert result.challenger_version == store["challenger"] and result.champion_version == store["champion"]
    again = score_challenger(D1, "run-b", rated_book)
    assert again.rows == N
    rows = fetch(rated_book, "select count(*), count(distinct customer_id), min(run_id), min(model_version),"
                 " min(champion_version) from model_shadow.scores where as_of_date = %s", (D1,))
    assert rows == [(N, N, "run-b", store["challenger"], store["champion"])]
    # the published ratings stay the champion's: the shadow never touches the BI contract
    published = fetch(rated_book, "select distinct model_version from ratings.customer_ratings")
    assert published == [(store["champion"],)]
    grants = fetch(rated_book, "select has_schema_privilege('bi_reader', 'model_shadow', 'usage'),"
                   " has_table_privilege('pipeline_writer', 'model_shadow.scores', 'insert')")
    assert grants == [(False, True)]


def test_no_challenger_means_nothing_is_shadow_scored(rated_book: str, store) -> None:
    client = MlflowClient()
    client.delete_registered_model_alias(MODEL_NAME, "challenger")
    try:
        result = score_challenger(D1, "run-a", rated_book)
    finally:
        client.set_registered_model_alias(MODEL_NAME, "challenger", store["challenger"])
    assert result.status == "no_challenger" and result.rows == 0
    assert fetch(rated_book, "select count(*) from model_shadow.scores") == [(0,)]


def test_owner_sees_realised_performance_side_by_side_once_labels_mature(rated_book: str, store) -> None:
    for d in (D1, D2):
        score_challenger(d, f"run-{d}", rated_book)
    pairs = side_by_side(paired_rows(MODEL_NAME, url=rated_book), min_rows=50)
    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair["challenger_version"], pair["champion_version"]) == (store["challenger"], store["champion"])
    assert pair["dates"] == 1 and pair["first_date"] == D1.isoformat()  # D2 has no labels yet
    expected = fetch(rated_book, "select r.pd_12m, l.default_flag from ratings.customer_ratings r"
                     " join marts.customer_default_labels l using (customer_id, as_of_date)"
                     " where r.as_of_date = %s and r.rating_grade <> 'D'", (D1,))
    assert pair["rows"] == len(expected)
    y = np.array([r[1] for r in expected])
    champion = discrimination(y, np.array([r[0] for r in expected]))
    assert pair["champion"]["auc"] == pytest.approx(champion["auc"])
    assert pair["challenger"]["auc"] != pytest.approx(champion["auc"])  # another model, measured on its own PDs

    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"], "WAREHOUSE_URL": rated_book,
           "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "ml.cli", "models", "shadow", "--json"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert f"challenger v{store['challenger']} vs champion v{store['champion']}" in out
    assert "champion" in out and "challenger" in out and "difference" in out
    assert f"awaiting labels: v{store['challenger']} {N} rows on 1 dates" in out
    printed = json.loads(out.strip().splitlines()[-1])
    assert printed[0]["rows"] == pair["rows"]
