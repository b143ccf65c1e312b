"""Fixtures the scoring and publishing tests share: one registered contract model per module."""

from __future__ import annotations

import pytest

from ml.registry import Champion, load_champion
from tests.helpers.contract_model import mlflow_store, register_contract_model


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """One registered champion for the module (logging a model costs seconds): (tracking uri, version)."""
    with mlflow_store(tmp_path_factory.mktemp("mlflow"), "ratings-test") as uri:
        yield uri, register_contract_model()


@pytest.fixture
def champion(champion_store: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Champion:
    """The store's @champion, loaded through the registry as scoring loads it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion_store[0])
    return load_champion()
