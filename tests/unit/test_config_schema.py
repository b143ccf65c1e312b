"""Every config file is checked against its schema at load: wrong keys, types and values fail, named.

The cases of the hostile-input review: a misspelt rule key used to switch the rule off silently, a
string where a list belongs was read character by character, `columns` as a list raised an
AttributeError and `future_tolerance_days: abc` was accepted.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from common.config import check_config_folder, config_dir, load_config
from common.config_schema import SCHEMAS, ConfigError

CLOSED = "postgresql://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Callable[[dict], None]], Path]:
    """A copy of config/ the loader reads, every connection on a closed port; returns edit(file, change)."""
    folder = tmp_path / "config"
    shutil.copytree(config_dir(), folder)
    monkeypatch.setenv("CRM_RISK_CONFIG_DIR", str(folder))
    for conn in ("WAREHOUSE", "CRM_SOURCE", "FINANCE_SOURCE"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn}", CLOSED)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)

    def edit(name: str, change: Callable[[dict], None]) -> Path:
        path = folder / f"{name}.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return edit


def test_every_shipped_config_file_has_a_schema_and_passes_it() -> None:
    names = {p.stem for p in config_dir().glob("*.yml")}
    assert names == set(SCHEMAS)
    check_config_folder()
    for name in names:
        assert load_config(name)


def _accounts(data: dict) -> dict:
    return data["sources"]["crm"]["tables"]["accounts"]


BAD_SOURCES = {
    "misspelt rule key": (
        lambda d: _accounts(d)["rules"].update(requried=_accounts(d)["rules"].pop("required")),
        r"sources\.crm\.tables\.accounts\.rules\.requried: unknown key .*did you mean 'required'\?",
    ),
    "string instead of a list": (
        lambda d: _accounts(d)["rules"].update(required="account_id"),
        r"sources\.crm\.tables\.accounts\.rules\.required: Input should be a valid list \(got 'account_id'\)",
    ),
    "columns as a list": (
        lambda d: _accounts(d).update(columns=list(_accounts(d)["columns"])),
        r"sources\.crm\.tables\.accounts\.columns: Input should be a valid dictionary \(got list\)",
    ),
    "tolerance not a number": (
        lambda d: d.update(future_tolerance_days="abc"),
        r"future_tolerance_days: Input should be a valid integer \(got 'abc'\)",
    ),
    "negative tolerance": (
        lambda d: d.update(future_tolerance_days=-3),
        r"future_tolerance_days: Input should be greater than or equal to 0",
    ),
    "unknown source kind": (
        lambda d: d["sources"]["crm"].update(kind="ftp"),
        r"sources\.crm\.kind: Input should be 'sql' or 'file_drop'",
    ),
    "unknown top-level key": (
        lambda d: d.update(sorces={}),
        r"sorces: unknown key .*did you mean 'sources'\?",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
def test_a_bad_sources_yml_stops_extraction_naming_file_key_and_expectation(config_copy, case) -> None:
    from ingest.extract import extract_interval

    change, message = BAD_SOURCES[case]
    path = config_copy("sources", change)
    # the connections point at a closed port: a connection error here would mean the check came too late
    with pytest.raises(ConfigError, match=message) as raised:
        extract_interval("crm", dt.date(2026, 1, 1), dt.date(2026, 1, 2), verbose=False)
    assert str(path) in str(raised.value)


BAD_OTHERS = {
    "features": (lambda d: d["features"][0].update(kind="numerc"), r"features\.0\.kind: Input should be"),
    "model": (lambda d: d["split"].update(holdout_snapshots="3"), r"split\.holdout_snapshots: Input should be a valid integer"),
    "limits": (lambda d: d["caps"].update(max_limt=5), r"caps\.max_limt: unknown key .*did you mean 'max_limit'"),
    "warnings": (lambda d: d["rules"][0].update(comparison=">="), r"rules\.0\.comparison: Input should be"),
    "quality": (lambda d: d["distribution"]["bands"]["dpd_current"].update(mean=[0]), r"bands\.dpd_current\.mean"),
    "rating_scale": (lambda d: d["grades"][0].update(pd_upper=1.5), r"grades\.0\.pd_upper: Input should be less than or equal to 1"),
    "segments": (lambda d: d["segments"][0].update(grades="AAA"), r"segments\.0\.grades: Input should be a valid list"),
    "reason_codes": (lambda d: d["codes"]["PAY01"].update(feeture="x"), r"codes\.PAY01\.feeture: unknown key"),
    "desk": (lambda d: d["overrides"].update(default_days=400), r"default_days must not exceed"),
    "events": (lambda d: d["event_types"].update(rumour="finance.invoices; drop table x"), r"event_types\.rumour"),
}


@pytest.mark.parametrize("name", list(BAD_OTHERS))
def test_a_bad_key_or_value_in_any_config_file_is_refused_at_the_first_load(config_copy, name) -> None:
    change, message = BAD_OTHERS[name]
    config_copy(name, change)
    # any load checks the whole folder: a bad model.yml stops even a run that reads only sources.yml
    with pytest.raises(ConfigError, match=message):
        load_config("sources")


def test_a_config_file_without_a_schema_or_not_yaml_is_refused(config_copy) -> None:
    folder = config_dir()
    (folder / "extra.yml").write_text("a: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"extra\.yml: no schema for config file 'extra'"):
        load_config("sources")
    (folder / "extra.yml").unlink()
    (folder / "limits.yml").write_text("caps: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"limits\.yml: not readable YAML"):
        load_config("sources")
    (folder / "limits.yml").write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"limits\.yml: must hold a mapping"):
        load_config("sources")


def test_sources_passed_as_a_dict_are_checked_too() -> None:
    from ingest.sources import load_sources

    data = yaml.safe_load((config_dir() / "sources.yml").read_text(encoding="utf-8"))
    _accounts(data)["rules"]["requried"] = ["account_id"]
    with pytest.raises(ConfigError, match="requried: unknown key"):
        load_sources(data)
