"""The dbt unit tests (`unit_tests:` in the model YAML) of the feature arithmetic."""

from __future__ import annotations

from common.dbt import run_dbt


def test_dbt_unit_tests_of_feature_arithmetic_pass(warehouse_url):
    # unit tests read the column types of their inputs: create every relation (empty) first
    run_dbt(["build", "--empty", "--exclude", "test_type:unit", "test_type:data"], vars={"as_of_date": "2024-06-30"},
            conn_id_or_url=warehouse_url)
    output = run_dbt(["test", "--select", "test_type:unit"], vars={"as_of_date": "2024-06-30"},
                     conn_id_or_url=warehouse_url)
    assert "PASS=3 " in output and "ERROR=0" in output
