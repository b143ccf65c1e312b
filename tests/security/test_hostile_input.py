"""Hostile input, generated: file drops and config files that hypothesis makes up, each run for real.

File drops: CSV files of the accounts table whose fields are drawn from valid values, arbitrary text
(NUL, quotes, separators, newlines, any Unicode), arbitrary bytes (mostly not UTF-8), oversize fields,
timestamps far outside the day and lines with too few or too many fields, written either correctly
quoted or raw (so that the CSV structure itself breaks). Each file is extracted into a real warehouse.
For every case: either the batch commits with extracted = loaded + quarantined (raw, quarantine and the
audit row agree, every loaded row passes the rules, every quarantine row names a known rule and a
reason), or the file fails with MalformedFile naming it and nothing is written.

Configs: a random key of a random config file is replaced by junk, deleted, renamed or joined by an
unknown sibling; the config's consumers then run with connections and dbt behind a tripwire. For every
case: the loader refuses it naming the file (ConfigError), or the mutation was a valid config and every
consumer either accepts it or refuses it with a ValueError naming the config - never an AttributeError,
TypeError or a connection.

Sizes: HYPOTHESIS_PROFILE=hostile-long runs more examples; the default keeps the run to about a minute.
The number of cases tried is printed at the end of the module (pytest -s).
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from common.config import config_dir
from common.config_schema import SCHEMAS, ConfigError
from common.paths import CONFIG_DIR
from common.warehouse import transaction

settings.register_profile(
    "hostile",
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same cases in CI and locally; failures reproduce
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("hostile-long", parent=settings.get_profile("hostile"), max_examples=300)
PROFILE = "hostile"

TRIED: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_cases() -> Iterator[None]:
    yield
    total = TRIED["file drop"] + TRIED["config"]
    print(f"\nhostile-input cases tried: {total} ({dict(TRIED)})")


def _profile() -> settings:
    import os

    return settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", PROFILE))


# --- file drops ----------------------------------------------------------------------------------

DAY = dt.date(2026, 11, 4)
START = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
COLUMNS = ["account_id", "legal_name", "tax_id", "industry", "region", "size_band", "status", "created_at",
           "updated_at"]
RULES = {"unparseable_line", "oversize_field", "nul_byte", "bad_encoding", "watermark_outside_interval",
         "unparseable_value", "required", "not_in_future", "duplicate_key", "allowed_values", "non_negative"}

_stamp = st.datetimes(min_value=dt.datetime(2026, 10, 20), max_value=dt.datetime(2026, 11, 4, 23, 59)).map(
    lambda d: d.strftime("%Y-%m-%d %H:%M:%S+00").encode())
_far_stamp = st.sampled_from([b"2020-01-01 00:00:00+00", b"2030-06-01 12:00:00+00", b"1970-01-01", b"9999-12-31"])
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30).map(
    lambda s: s.encode("utf-8"))
_hostile_text = st.sampled_from([b"a\x00b", b'"', b"a,b", b"line\nbreak", b"\r\n", b"\xff\xfe", b"M\xfcller",
                                 b"x" * 70_000, b"\\N", b"NULL", b" ", b"'; drop table raw_crm.accounts; --"])


def _field(column: str) -> st.SearchStrategy[bytes]:
    valid: st.SearchStrategy[bytes]
    if column == "account_id":
        valid = st.integers(1, 40).map(lambda i: f"C{i:07d}".encode())
    elif column in ("created_at", "updated_at"):
        valid = _stamp
    else:
        valid = st.sampled_from([b"retail", b"north", b"small", b"active", b"Oak Foods, Ltd", b"TX1"])
    return st.one_of(valid, valid, valid, _text, _hostile_text, st.binary(max_size=12), st.just(b""),
                     _far_stamp if column.endswith("_at") else valid)


_line = st.tuples(*[_field(c) for c in COLUMNS]).map(list)


@st.composite
def _lines(draw: st.DrawFn) -> list[list[bytes]]:
    lines = draw(st.lists(_line, min_size=0, max_size=12))
    for line in lines:
        change = draw(st.sampled_from(["none"] * 8 + ["drop", "extra"]))
        if change == "drop":
            line.pop()
        elif change == "extra":
            line.append(b"extra")
    return lines


def _quoted(value: bytes) -> bytes:
    return b'"' + value.replace(b'"', b'""') + b'"'


def _csv(lines: list[list[bytes]], quote: bool) -> bytes:
    header = ",".join(COLUMNS).encode()
    body = [b",".join(_quoted(v) if quote else v for v in line) for line in lines]
    return b"\n".join([header, *body]) + b"\n"


@pytest.fixture(scope="module")
def drop_warehouse(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One migrated warehouse and a file-drop crm source for the whole module (each case replaces the batch)."""
    import uuid

    from common.migrate import migrate
    from devtools.scratch import create_database, drop_database

    name = f"t_{uuid.uuid4().hex[:10]}_hostile"
    url = create_database(admin_url, name)
    migrate(url)
    folder = tmp_path_factory.mktemp("hostile")
    config = yaml.safe_load((CONFIG_DIR / "sources.yml").read_text(encoding="utf-8"))
    config["sources"]["crm"].update(kind="file_drop", landing_dir=str(folder / "landing"))
    (folder / "config").mkdir()
    for path in CONFIG_DIR.glob("*.yml"):
        shutil.copy(path, folder / "config" / path.name)
    (folder / "config" / "sources.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    try:
        yield url, folder
    finally:
        drop_database(admin_url, name)


def _counts(url: str) -> dict[str, int]:
    """Rows of every raw, quarantine and audit table (what a case may have written)."""
    with transaction(url) as cur:
        cur.execute("select table_schema || '.' || table_name from information_schema.tables where table_schema"
                    " in ('raw_crm', 'raw_finance', 'quarantine', 'audit') and table_type = 'BASE TABLE'")
        tables = sorted(r[0] for r in cur.fetchall())
        out = {}
        for table in tables:
            cur.execute(f"select count(*) from {table}")  # names from the catalog
            out[table] = cur.fetchone()[0]
        return out


def test_generated_file_drops_are_loaded_or_quarantined_never_lost(drop_warehouse, monkeypatch) -> None:
    from ingest.connectors import MalformedFile
    from ingest.extract import extract_interval

    url, folder = drop_warehouse
    monkeypatch.setenv("CRM_RISK_CONFIG_DIR", str(folder / "config"))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url.replace("postgresql+psycopg2://", "postgresql://"))
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    path = folder / "landing" / "crm" / DAY.isoformat() / "accounts.csv"
    path.parent.mkdir(parents=True, exist_ok=True)

    @_profile()
    @given(lines=_lines(), quote=st.booleans())
    # found by the long profile: U+0085 in a field split quarantine's row_data in two (str.splitlines)
    @example(lines=[[b"C0000001", b"retail", b"x", b"y", b"\xc2\x85", b"", b"z", b"", b""]], quote=False)
    @example(lines=[[b"C0000001", b"a\xc2\x85b", *[b"x"] * 5, b"2026-11-04 10:00:00+00", b"2030-01-01"]],
             quote=True)
    def case(lines: list[list[bytes]], quote: bool) -> None:
        TRIED["file drop"] += 1
        path.write_bytes(_csv(lines, quote))
        before = _counts(url)
        try:
            [result] = extract_interval("crm", START, END, tables=["accounts"], verbose=False)
        except MalformedFile as exc:
            assert str(path) in str(exc)
            assert _counts(url) == before  # the failed batch rolled back: the previous case's state stands
            TRIED["file drop: malformed"] += 1
            return
        assert result.extracted == result.loaded + result.quarantined
        if quote:  # the structure is intact: every written line is one extracted row
            assert result.extracted == len(lines)
        with transaction(url) as cur:
            cur.execute("select count(*), count(*) filter (where account_id is null or updated_at is null"
                        " or updated_at < %s - interval '7 days' or updated_at >= %s)"
                        " from raw_crm.accounts where _batch_id = %s", (START, END, result.batch_id))
            loaded, broken = cur.fetchone()
            assert (loaded, broken) == (result.loaded, 0)
            cur.execute("select rule, reason from quarantine.rejected_rows where batch_id = %s", (result.batch_id,))
            rejected = cur.fetchall()
            assert len(rejected) == result.quarantined
            assert all(rule in RULES and reason for rule, reason in rejected), rejected
            cur.execute("select extracted, loaded, quarantined from audit.batch_counts where batch_id = %s",
                        (result.batch_id,))
            assert cur.fetchall() == [(result.extracted, result.loaded, result.quarantined)]
        # nothing else written: only the accounts batch, its quarantine rows and its audit row exist
        counts = _counts(url)
        assert counts["raw_crm.accounts"] == result.loaded
        assert counts["quarantine.rejected_rows"] == result.quarantined
        assert counts["audit.batch_counts"] == 1
        assert all(n == 0 for table, n in counts.items() if table.startswith(("raw_crm.", "raw_finance."))
                   and table != "raw_crm.accounts")
        TRIED["file drop: committed"] += 1

    case()


# --- configs -------------------------------------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(['x", cast((select 1) as int) as "y" --', "abc", "-1", "", "1e400"]),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
ORIGINALS = {name: yaml.safe_load((CONFIG_DIR / f"{name}.yml").read_text(encoding="utf-8")) for name in SCHEMAS}


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a config document (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


PATHS = {name: _paths(doc) for name, doc in ORIGINALS.items()}


@st.composite
def _mutation(draw: st.DrawFn) -> tuple[str, dict, str, tuple]:
    name = draw(st.sampled_from(sorted(ORIGINALS)))
    doc = copy.deepcopy(ORIGINALS[name])
    path = draw(st.sampled_from(PATHS[name]))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    kind = draw(st.sampled_from(["replace", "delete", "rename", "unknown sibling"]))
    if kind == "replace" or isinstance(parent, list):
        kind = "replace"
        parent[key] = draw(JUNK)
    elif kind == "delete":
        del parent[key]
    elif kind == "rename":
        parent[f"{key}x"] = parent.pop(key)
    else:
        parent[f"unknown_{draw(st.integers(0, 9))}"] = draw(JUNK)
    return name, doc, kind, path


def _consumers() -> dict[str, Callable[[], Any]]:
    from desk.settings import DeskConfig
    from ingest.sources import load_sources
    from ml.dataset import feature_spec
    from ml.scale import load_master_scale
    from ratings.limits import load_limit_policy
    from ratings.reasons import reason_rows
    from ratings.segments import load_segments
    from ratings.warnings_rules import load_rules

    return {
        "sources": load_sources,
        "features": feature_spec,
        "rating_scale": load_master_scale,
        "segments": load_segments,
        "limits": load_limit_policy,
        "warnings": load_rules,
        "reason_codes": reason_rows,
        "desk": DeskConfig.load,
    }


def test_generated_config_mutations_are_refused_clearly_or_accepted(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "config"
    shutil.copytree(config_dir(), folder)
    monkeypatch.setenv("CRM_RISK_CONFIG_DIR", str(folder))

    def tripwire(*args: object, **kwargs: object) -> None:
        raise AssertionError("a config case reached a database")

    monkeypatch.setattr(psycopg2, "connect", tripwire)
    real_run, real_popen = subprocess.run, subprocess.Popen
    monkeypatch.setattr(subprocess, "run", lambda cmd, *a, **k: tripwire() if "dbt" in str(cmd)
                        else real_run(cmd, *a, **k))
    monkeypatch.setattr(subprocess, "Popen", lambda cmd, *a, **k: tripwire() if "dbt" in str(cmd)
                        else real_popen(cmd, *a, **k))
    consumers = _consumers()

    @_profile()
    @given(mutation=_mutation())
    def case(mutation: tuple[str, dict, str, tuple]) -> None:
        name, doc, kind, path = mutation
        TRIED["config"] += 1
        target = folder / f"{name}.yml"
        try:
            target.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
            for consumer_name, consumer in consumers.items():
                try:
                    consumer()
                except ConfigError as exc:
                    assert f"{name}.yml" in str(exc), exc
                    TRIED["config: refused by the schema"] += 1
                    return
                except (ValueError, KeyError) as exc:  # a rule across keys or files, named
                    assert ".yml" in str(exc) or "config" in str(exc) or name in str(exc), (consumer_name, exc)
                    TRIED["config: refused by a consumer"] += 1
                    return
            TRIED["config: accepted"] += 1
        finally:
            shutil.copy(CONFIG_DIR / f"{name}.yml", target)

    case()
