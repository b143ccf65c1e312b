"""The Great Expectations context of a gate run: ephemeral, with results and Data Docs on local disk."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from common.paths import state_dir

logging.getLogger("great_expectations").setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402 - the logger level must be set before GX configures it
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations import ExpectColumnQuantileValuesToBeBetween  # noqa: E402

DOCS_SITE = "local_site"


class ExpectColumnQuantilesToBeBetween(ExpectColumnQuantileValuesToBeBetween):
    """expect_column_quantile_values_to_be_between, with a plain-bool result.

    GX 1.24's version returns numpy booleans, which its own validation-result store cannot serialise
    (TypeError: Object of type bool is not JSON serializable); the check itself is unchanged.
    """

    def _validate(
        self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None
    ):
        result = super()._validate(metrics, runtime_configuration, execution_engine)
        result["success"] = bool(result["success"])
        details = result.get("result", {}).get("details", {})
        if "success_details" in details:
            details["success_details"] = [bool(x) for x in details["success_details"]]
        return result


def gx_dir() -> Path:
    """<state>/gx: validation results (kept across runs) and the Data Docs site."""
    return state_dir() / "gx"


def data_docs_dir() -> Path:
    return gx_dir() / "data_docs"


def make_context() -> Any:
    """An ephemeral context whose validation results and Data Docs persist under <state>/gx.

    Suites, assets and checkpoints live in memory (the suites' source of truth is the repo); results
    go to a filesystem store so the Data Docs index lists every run, not only the latest.
    """
    defaults = InMemoryStoreBackendDefaults()
    defaults.stores[defaults.validation_results_store_name]["store_backend"] = {
        "class_name": "TupleFilesystemStoreBackend",
        "base_directory": str(gx_dir() / "validations"),
    }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
        data_docs_sites={
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(data_docs_dir()),
                },
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)
