"""The dbt unit tests (`unit_tests:` in the model YAML) of the feature arithmetic, and the docs site."""

from __future__ import annotations

import json
import time

from common.dbt import run_dbt
from common.paths import state_dir

VARS = {"as_of_date": "2024-06-30"}


def test_dbt_unit_tests_pass_and_docs_describe_every_model_and_column(warehouse_url):
    # unit tests read the column types of their inputs: create every relation (empty) first
    arrivals: list[tuple[float, str]] = []
    build = run_dbt(["build", "--empty", "--exclude", "test_type:unit", "test_type:data"], vars=VARS,
                    conn_id_or_url=warehouse_url, sink=lambda line: arrivals.append((time.monotonic(), line)))
    finished = time.monotonic()
    # the log streams while dbt works: each model's line arrives when dbt writes it, not all at exit
    assert [line for _, line in arrivals] == build.splitlines()
    model_lines = [t for t, line in arrivals if " OK created " in line]
    assert len(model_lines) >= 20 and finished - arrivals[0][0] > 1.0
    assert model_lines[-1] - model_lines[0] > 0.5
    output = run_dbt(["test", "--select", "test_type:unit"], vars=VARS, conn_id_or_url=warehouse_url)
    assert "PASS=4 " in output and "ERROR=0" in output

    run_dbt(["docs", "generate"], vars=VARS, conn_id_or_url=warehouse_url)
    target = state_dir() / "dbt" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    built = {unique_id for unique_id, node in manifest["nodes"].items()
             if node["resource_type"] in ("model", "seed") and node["config"]["materialized"] != "ephemeral"}
    assert set(catalog["nodes"]) == built  # the check below covers every model and seed
    undocumented = []
    for unique_id, table in catalog["nodes"].items():
        node = manifest["nodes"][unique_id]
        if not node["description"].strip():
            undocumented.append(node["name"])
        documented = {name for name, col in node["columns"].items() if col["description"].strip()}
        undocumented += [f"{node['name']}.{col}" for col in table["columns"] if col not in documented]
    assert len(built) >= 25
    assert undocumented == []
