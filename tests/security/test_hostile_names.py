"""Every config-driven SQL builder refuses a hostile name before anything runs.

The attack of the hostile-input review: a feature named like the string below turned the training
query into one that returned a customer's legal name and tax id in its error text. Here that string
is planted in each place of config/ whose value reaches SQL (or travels as a code), and every entry
point that builds SQL from config is called: the DAG's task functions, the raw DDL, the simulator,
training, scoring, shadow scoring, the quality gates' parameters, segments, limits, warnings and the
dbt date vars. Connecting to a database and starting a process (dbt) are replaced by a tripwire, so
"refused before execution" is checked directly, not inferred from a connection error.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml

from common.config import config_dir
from common.config_schema import ConfigError
from common.sql_identifiers import InvalidIdentifier

HOSTILE = (
    "dpd_current\", cast((select legal_name||' / '||tax_id from raw_crm.accounts where "
    "account_id='C0000001') as int) as \"y\" --"
)
CLOSED = "postgresql://postgres@127.0.0.1:1/nowhere"
DAY = dt.date(2026, 11, 4)
START = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)


def _rename_key(mapping: dict, old: str) -> None:
    mapping[HOSTILE] = mapping.pop(old)


def _crm(d: dict) -> dict:
    return d["sources"]["crm"]


def _accounts(d: dict) -> dict:
    return _crm(d)["tables"]["accounts"]


# (file, edit, identifier?) - identifier plants raise InvalidIdentifier; code plants (grades, rule codes)
# a ConfigError naming the expected pattern
PLANTS: dict[str, tuple[str, Callable[[dict], None], bool]] = {
    "sources: source name": ("sources", lambda d: _rename_key(d["sources"], "crm"), True),
    "sources: schema": ("sources", lambda d: _crm(d).update(schema=HOSTILE), True),
    "sources: raw_schema": ("sources", lambda d: _crm(d).update(raw_schema=HOSTILE), True),
    "sources: table name": ("sources", lambda d: _rename_key(_crm(d)["tables"], "accounts"), True),
    "sources: column name": ("sources", lambda d: _rename_key(_accounts(d)["columns"], "industry"), True),
    "sources: column type": ("sources", lambda d: _accounts(d)["columns"].update(industry=HOSTILE), True),
    "sources: primary key": ("sources", lambda d: _accounts(d).update(primary_key=HOSTILE), True),
    "sources: watermark": ("sources", lambda d: _accounts(d).update(watermark=HOSTILE), True),
    "sources: rule column": ("sources", lambda d: _accounts(d)["rules"].update(required=[HOSTILE]), True),
    "sources: reference": (
        "sources",
        lambda d: _crm(d)["tables"]["contacts"]["rules"]["references"].update(account_id=HOSTILE),
        True,
    ),
    "features: feature name": ("features", lambda d: d["features"][0].update(name=HOSTILE), True),
    "features: key": ("features", lambda d: d.update(key=["customer_id", HOSTILE]), True),
    "segments: segment name": ("segments", lambda d: d["segments"][0].update(name=HOSTILE), True),
    "quality: band column": ("quality", lambda d: _rename_key(d["distribution"]["bands"], "dpd_current"), True),
    "reason_codes: feature": ("reason_codes", lambda d: d["codes"]["PAY01"].update(feature=HOSTILE), True),
    "warnings: metric": ("warnings", lambda d: d["rules"][0].update(metric=HOSTILE), True),
    "limits: review segment": ("limits", lambda d: d["decisions"].update(review_segments=[HOSTILE]), True),
    "warnings: rule code": ("warnings", lambda d: d["rules"][0].update(code=HOSTILE), False),
    "rating_scale: grade": ("rating_scale", lambda d: d["grades"][0].update(grade=HOSTILE), False),
    "limits: grade": ("limits", lambda d: _rename_key(d["months_of_sales"], "AAA"), False),
    "segments: grade": ("segments", lambda d: d["segments"][0].update(grades=[HOSTILE]), False),
}


def _daily(name: str) -> Callable[[], Any]:
    def call() -> Any:
        from pipeline import daily

        tasks: dict[str, Callable[[], Any]] = {
            "extract": lambda: daily.extract("crm", START, END, "run"),
            "gate": lambda: daily.gate("raw", "run", START, END),
            "build_features": lambda: daily.build_features(DAY, "run"),
            "check_champion": lambda: daily.check_champion(DAY, "run"),
            "score": lambda: daily.score(DAY, "run"),
            "shadow": lambda: daily.shadow(DAY, "run"),
        }
        return tasks[name]()

    return call


def _training() -> Any:
    from ml.dataset import load_training_frame

    return load_training_frame(url=CLOSED)


def _scoring() -> Any:
    from ratings.publish import score_and_publish

    return score_and_publish(DAY, "run", url=CLOSED, champion=object())  # type: ignore[arg-type]


def _shadow() -> Any:
    from ratings.shadow import score_challenger

    return score_challenger(DAY, "run", url=CLOSED, challenger="1")


def _raw_ddl() -> Any:
    from ingest.sources import raw_ddl

    return raw_ddl()


def _simulator() -> Any:
    from devtools.simulator import simulate

    return simulate(10, dt.date(2026, 1, 1), dt.date(2026, 1, 2), seed=1, verbose=False)


def _feature_gate_parameters() -> Any:
    from expectations.parameters import feature_parameters

    return feature_parameters(None, "marts.customer_features", DAY)


def _segments() -> Any:
    from ratings.segments import load_segments

    return load_segments()


def _limits() -> Any:
    from ratings.limits import load_limit_policy

    return load_limit_policy()


def _warnings() -> Any:
    from ratings.warnings_rules import load_rules

    return load_rules()


def _dbt_snapshot() -> Any:
    from common.transform import build_snapshot

    return build_snapshot(DAY, conn_id_or_url=CLOSED)


BUILDERS: dict[str, Callable[[], Any]] = {
    **{f"daily task {name}": _daily(name) for name in
       ("extract", "gate", "build_features", "check_champion", "score", "shadow")},
    "raw DDL (migrations)": _raw_ddl,
    "simulator DDL": _simulator,
    "training query": _training,
    "scoring": _scoring,
    "shadow scoring": _shadow,
    "feature gate parameters": _feature_gate_parameters,
    "segments": _segments,
    "limits": _limits,
    "warning rules": _warnings,
    "dbt snapshot build": _dbt_snapshot,
}


class Tripwire(AssertionError):
    """Something tried to connect to a database or start a process before the name was refused."""


@pytest.fixture
def guarded_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(config_dir(), folder)
    monkeypatch.setenv("CRM_RISK_CONFIG_DIR", str(folder))
    monkeypatch.setenv("CRM_RISK_STATE_DIR", str(tmp_path / "state"))
    for conn in ("WAREHOUSE", "CRM_SOURCE", "FINANCE_SOURCE"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn}", CLOSED)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)

    def trip(*args: object, **kwargs: object) -> None:
        raise Tripwire(f"reached execution: {args[:1]!r}")

    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        if "dbt" in str(cmd):  # imports probe the platform with uname: only dbt is of interest
            trip(cmd)
        return real_run(cmd, *args, **kwargs)

    def popen(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        if "dbt" in str(cmd):
            trip(cmd)
        return real_popen(cmd, *args, **kwargs)

    monkeypatch.setattr(psycopg2, "connect", trip)
    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", popen)
    return folder


def _plant(folder: Path, name: str, edit: Callable[[dict], None]) -> None:
    path = folder / f"{name}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("builder", list(BUILDERS))
@pytest.mark.parametrize("plant", list(PLANTS))
def test_every_config_driven_sql_builder_refuses_a_hostile_name_before_execution(
    guarded_config: Path, plant: str, builder: str
) -> None:
    name, edit, is_identifier = PLANTS[plant]
    _plant(guarded_config, name, edit)
    with pytest.raises(ConfigError) as raised:
        BUILDERS[builder]()
    message = str(raised.value)
    assert f"{name}.yml" in message and repr(HOSTILE)[:60] in message  # the value, quoted as repr quotes it
    if is_identifier:
        assert isinstance(raised.value, InvalidIdentifier)
        assert "not a valid SQL identifier" in message or "not a PostgreSQL type name" in message
    else:
        assert "should match pattern" in message


@pytest.mark.parametrize("builder", list(BUILDERS))
def test_the_tripwire_is_live_for_each_builder_on_a_clean_config(guarded_config: Path, builder: str) -> None:
    """Without a plant each builder goes on to execute (or to a later, unrelated check): the tripwire
    and the closed connections are what would have caught a name that slipped through."""
    try:
        BUILDERS[builder]()
    except ConfigError as exc:  # pragma: no cover - a clean config must pass its schema
        pytest.fail(f"clean config refused: {exc}")
    except Exception:  # noqa: BLE001 - tripwire, closed port, missing model: all past the config check
        return


@pytest.mark.parametrize("day", ["2026-11-04'; drop table x; --", "2026-13-01", "yesterday", 20261104])
def test_a_dbt_date_var_that_is_not_a_date_is_refused_before_dbt_starts(guarded_config: Path, day: Any) -> None:
    from common.transform import build_history, build_snapshot

    with pytest.raises(ValueError, match="dbt date var must be a date"):
        build_snapshot(day, conn_id_or_url=CLOSED)
    with pytest.raises(ValueError, match="dbt date var must be a date"):
        build_history(DAY, history_start_date=day, conn_id_or_url=CLOSED)
