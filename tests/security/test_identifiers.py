"""Names from config reach SQL only through common.sql_identifiers, and a malicious one is refused first.

Each case copies config/ to a temporary folder (CRM_RISK_CONFIG_DIR), plants `accounts; drop table x`
(or similar) in one place a name is read from, and calls the real entry point with every connection
pointed at a closed port: the clear InvalidIdentifier (not a connection error) shows that the name was
refused before any statement could run.
"""

from __future__ import annotations

import ast
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from common.config import config_dir
from common.paths import REPO_ROOT
from common.sql_identifiers import InvalidIdentifier, column_type, identifier, qualified

MALICIOUS = "accounts; drop table x"
CLOSED = "postgresql://postgres@127.0.0.1:1/nowhere"


@pytest.mark.parametrize("name", ["accounts", "_batch_id", "bureau_score_change_6m", "a" * 63])
def test_plain_lower_snake_names_are_accepted(name):
    assert identifier(name, "test") == name


@pytest.mark.parametrize("name", [MALICIOUS, "Accounts", '"accounts"', "accounts--", "1st", "", "a" * 64,
                                  "raw_crm.accounts", "accounts\n", None, 7])
def test_anything_else_is_refused_naming_where_it_came_from(name):
    with pytest.raises(InvalidIdentifier, match=r"sources\.yml: crm table name: .* not a valid SQL identifier"):
        identifier(name, "sources.yml: crm table name")


def test_qualified_names_and_types():
    assert qualified("crm.accounts", "t") == "crm.accounts"
    for bad in ["crm", "crm.accounts.x", "crm.accounts; drop table x", "crm.Accounts"]:
        with pytest.raises(InvalidIdentifier):
            qualified(bad, "t")
    for ok in ["text", "numeric(18, 2)", "numeric(18,2)", "double precision", "timestamptz",
               "timestamp with time zone", "integer", "text[]", "date"]:
        assert column_type(ok, "t") == ok
    for bad in ["text); drop table x; --", "text default 'x'", "int check (true)", "text /* */", ""]:
        with pytest.raises(InvalidIdentifier, match="not a PostgreSQL type name"):
            column_type(bad, "t")


@pytest.fixture
def planted_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Callable[[dict], None]], None]:
    """Copy config/ to a temp folder and point the loader at it; returns plant(file, edit)."""
    folder = tmp_path / "config"
    shutil.copytree(config_dir(), folder)
    monkeypatch.setenv("CRM_RISK_CONFIG_DIR", str(folder))
    for conn in ("WAREHOUSE", "CRM_SOURCE", "FINANCE_SOURCE"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn}", CLOSED)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)

    def plant(name: str, edit: Callable[[dict], None]) -> None:
        path = folder / f"{name}.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    return plant


def _rename_table(cfg: dict) -> None:
    tables = cfg["sources"]["crm"]["tables"]
    tables[MALICIOUS] = tables.pop("accounts")


def _rename_column(cfg: dict) -> None:
    columns = cfg["sources"]["crm"]["tables"]["activities"]["columns"]
    columns["outcome; drop table x"] = columns.pop("outcome")


SOURCE_PLANTS = {
    "table name": _rename_table,
    "column name": _rename_column,
    "schema": lambda cfg: cfg["sources"]["crm"].update(schema="crm; drop table x"),
    "raw_schema": lambda cfg: cfg["sources"]["crm"].update(raw_schema="raw_crm; drop table x"),
    "column type": lambda cfg: cfg["sources"]["crm"]["tables"]["accounts"]["columns"].update(
        industry="text); drop table x; --"),
    "reference": lambda cfg: cfg["sources"]["finance"]["tables"]["invoices"]["rules"]["references"].update(
        customer_id="crm.accounts; drop table x"),
}


@pytest.mark.parametrize("where", list(SOURCE_PLANTS))
def test_a_malicious_name_in_sources_yml_stops_extraction_before_any_sql(planted_config, where):
    from ingest.extract import extract_interval

    planted_config("sources", SOURCE_PLANTS[where])
    with pytest.raises(InvalidIdentifier, match=r"sources\.yml: .*drop table x"):
        extract_interval("crm", dt.date(2026, 1, 1), dt.date(2026, 1, 2), verbose=False)


def test_a_malicious_name_in_sources_yml_stops_the_simulator_ddl_too(planted_config):
    from devtools.simulator import simulate

    planted_config("sources", SOURCE_PLANTS["column type"])
    with pytest.raises(InvalidIdentifier, match="not a PostgreSQL type name"):
        simulate(10, dt.date(2026, 1, 1), dt.date(2026, 1, 2), seed=1, verbose=False)


def test_a_malicious_feature_name_stops_scoring_before_any_sql(planted_config):
    from ratings.publish import score_and_publish

    def plant(cfg: dict) -> None:
        cfg["features"][0]["name"] = "dpd_current; drop table x"

    planted_config("features", plant)
    with pytest.raises(InvalidIdentifier, match=r"features\.yml: features\.0\.name: .*drop table x"):
        score_and_publish(dt.date(2026, 1, 1), "run", url=CLOSED.replace("postgresql", "postgresql+psycopg2"),
                          champion=object())


def test_a_malicious_feature_name_stops_the_training_read_before_any_sql(planted_config):
    from ml.dataset import load_training_frame

    def plant(cfg: dict) -> None:
        cfg["features"][0]["name"] = 'dpd_current" from pg_user; --'

    planted_config("features", plant)
    with pytest.raises(InvalidIdentifier, match=r"features\.yml: features\.0\.name: "):
        load_training_frame(url=CLOSED)


def test_a_quality_gate_table_that_is_not_schema_dot_identifier_is_refused():
    from expectations.gate import _qualified

    with pytest.raises(InvalidIdentifier, match="quality gate table"):
        _qualified("ratings.customer_ratings; drop table x")


def test_a_malicious_band_column_in_quality_yml_is_refused_before_the_gate_queries(planted_config):
    from expectations.parameters import feature_parameters

    def plant(cfg: dict) -> None:
        cfg["distribution"]["bands"]["x) from pg_user; --"] = {"mean": [0, 1]}

    planted_config("quality", plant)
    # no cursor at all: reaching a query would fail with AttributeError instead
    with pytest.raises(InvalidIdentifier, match=r"quality\.yml: distribution\.bands\..* not a valid SQL identifier"):
        feature_parameters(None, "marts.customer_features", dt.date(2026, 1, 1))


# Modules that turn config names into SQL, and the helper each must call.
CONFIG_TO_SQL = {
    "ingest/sources.py": {"identifier", "qualified", "column_type"},
    "ml/dataset.py": {"identifier"},
    "ratings/scoring.py": {"identifier"},
    "ratings/segments.py": {"identifier"},
    "expectations/parameters.py": {"identifier"},
    "expectations/gate.py": {"qualified"},
}


@pytest.mark.parametrize("module", list(CONFIG_TO_SQL))
def test_config_to_sql_modules_use_the_one_helper_and_no_private_regex(module):
    tree = ast.parse((REPO_ROOT / module).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "common.sql_identifiers" for alias in node.names}
    assert CONFIG_TO_SQL[module] <= imported
    called = {node.func.id for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert CONFIG_TO_SQL[module] <= called
    source = (REPO_ROOT / module).read_text(encoding="utf-8")
    assert "a-z_][a-z0-9_]" not in source, "identifier rules live in common.sql_identifiers only"
