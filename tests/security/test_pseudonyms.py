"""Keyed pseudonyms: HMAC-SHA256 under a secret key, refused without one outside development mode, and
never written into dbt's compiled SQL or logs.

The review mapped 1,376 of 1,380 BI customers back to CRM ids with the salt written in the repository;
with an HMAC under a key that only the deployment holds, the same join needs the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import subprocess

import psycopg2
import pytest

from common import pseudonym
from common.paths import DBT_PROJECT_DIR, REPO_ROOT
from common.pseudonym import (
    DEVELOPMENT_KEY,
    PseudonymKeyError,
    pseudonym_key,
    pseudonymise,
    session_settings,
    set_config_statement,
    sql_expression,
)
from common.warehouse import transaction

REAL_KEY = "k3Jx9-QwTz_4mNp8vLr2sYb6hGd0cFe1aUi7oPq5"  # a test key, long enough to be accepted
CLOSED = "postgresql://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Outside development mode, no key anywhere."""
    for name in ("CRM_RISK_DEVELOPMENT", "PSEUDONYM_KEY", "PSEUDONYM_SALT", "AIRFLOW_VAR_PSEUDONYM_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_pseudonym_is_a_standard_hmac_sha256_under_the_key(production) -> None:
    production.setenv("PSEUDONYM_KEY", REAL_KEY)
    expected = hmac.new(REAL_KEY.encode(), b"C0000001", hashlib.sha256).hexdigest()[:32]
    assert pseudonymise("C0000001") == expected
    assert pseudonymise("C0000001", key="another-key-of-thirty-two-characters") != expected
    # the old scheme (sha256 of "<salt>:<id>") no longer reproduces it
    assert hashlib.sha256(b"dev-only-pseudonym-salt:C0000001").hexdigest()[:32] != pseudonymise("C0000001")


@pytest.mark.parametrize(
    "value, reason",
    [
        (None, "no pseudonym key: set PSEUDONYM_KEY"),
        ("change-me", "published default"),
        ("dev-only-pseudonym-salt", "published default"),
        (DEVELOPMENT_KEY, "published default"),
        ("short-key", "shorter than 32 characters"),
    ],
)
def test_outside_development_mode_a_missing_or_known_key_stops_everything(production, value, reason) -> None:
    if value is not None:
        production.setenv("PSEUDONYM_KEY", value)
    with pytest.raises(PseudonymKeyError, match=reason):
        pseudonym_key()


def test_the_old_salt_variable_alone_is_refused_with_the_new_name(production) -> None:
    production.setenv("PSEUDONYM_SALT", "some-old-salt-value-of-enough-length")
    with pytest.raises(PseudonymKeyError, match="PSEUDONYM_SALT is no longer read: the key is now PSEUDONYM_KEY"):
        pseudonym_key()


def test_the_key_may_come_from_the_airflow_variable(production) -> None:
    production.setenv("AIRFLOW_VAR_PSEUDONYM_KEY", REAL_KEY)
    assert pseudonym_key() == REAL_KEY.encode()


def test_development_mode_uses_the_development_key_and_says_so(production, caplog) -> None:
    production.setenv("CRM_RISK_DEVELOPMENT", "1")
    pseudonym._warn_development.cache_clear()
    with caplog.at_level(logging.WARNING, logger="common.pseudonym"):
        assert pseudonym_key() == DEVELOPMENT_KEY.encode()
    assert "CRM_RISK_DEVELOPMENT=1" in caplog.text and "Never use development mode with real" in caplog.text
    production.setenv("PSEUDONYM_KEY", REAL_KEY)  # a real key wins in development mode too
    assert pseudonym_key() == REAL_KEY.encode()


def test_entry_points_refuse_to_start_without_a_key(production) -> None:
    """A daily task, dbt and the desk stop before any connection or process."""

    def tripwire(*args: object, **kwargs: object) -> None:
        raise AssertionError("connected before the key check")

    production.setattr(psycopg2, "connect", tripwire)
    for conn in ("WAREHOUSE", "CRM_SOURCE", "FINANCE_SOURCE"):
        production.setenv(f"AIRFLOW_CONN_{conn}", CLOSED)
    from common.transform import build_snapshot
    from desk.app import create_app
    from pipeline import daily

    start = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
    with pytest.raises(PseudonymKeyError):
        daily.extract("crm", start, start + dt.timedelta(days=1), "run")
    with pytest.raises(PseudonymKeyError):
        build_snapshot(dt.date(2026, 11, 4), conn_id_or_url=CLOSED)
    with pytest.raises(PseudonymKeyError):
        create_app(url=CLOSED)


def _macro_sql() -> str:
    text = (DBT_PROJECT_DIR / "macros" / "pseudonymise.sql").read_text(encoding="utf-8")
    body = text.split("{% macro pseudonymise(column) -%}")[1].split("{%- endmacro %}")[0]
    return body.replace("{{ column }}", "%s")


def _squash(sql: str) -> str:
    return re.sub(r"\s+", "", sql)


def test_the_python_sql_expression_is_the_dbt_macro() -> None:
    assert _squash(_macro_sql()) == _squash(sql_expression("%s"))


@pytest.mark.parametrize("key", [REAL_KEY, "x" * 200, "clé-secrète-äöü-" * 3])
def test_postgresql_computes_the_same_hmac_as_python_for_any_key(admin_url, production, key) -> None:
    production.setenv("PSEUDONYM_KEY", key)
    ids = ["C0000001", "ACC-ÄÖÜ-7", "x" * 300, ""]
    statement, settings = set_config_statement()
    with transaction(admin_url) as cur:
        cur.execute(statement, settings)
        cur.execute(f"select {_macro_sql() % 'v'} from unnest(%s::text[]) with ordinality as t(v, n) order by n",
                    (ids,))
        in_sql = [row[0] for row in cur.fetchall()]
    assert in_sql == [pseudonymise(i) for i in ids]


def test_a_session_without_the_settings_cannot_compute_pseudonyms(admin_url) -> None:
    with pytest.raises(psycopg2.Error, match=r'unrecognized configuration parameter "crm\.pseudonym_opad"'):
        with transaction(admin_url) as cur:
            cur.execute(f"select {sql_expression(chr(39) + 'C1' + chr(39))}")


def test_the_key_never_reaches_dbts_compiled_sql_or_logs(pipeline_dbs, production, tmp_path) -> None:
    """dbt compiles the two models that pseudonymise; its target and log folders hold no form of the key."""
    from common.dbt import run_dbt
    from common.migrate import migrate

    production.setenv("PSEUDONYM_KEY", REAL_KEY)
    production.setenv("CRM_RISK_STATE_DIR", str(tmp_path))
    migrate(pipeline_dbs.warehouse)
    run_dbt(["compile", "--select", "int_accounts_snapshotted", "customer_default_labels"],
            vars={"as_of_date": "2026-11-04"}, conn_id_or_url=pipeline_dbs.warehouse)
    forms = [REAL_KEY, REAL_KEY.encode().hex(), *session_settings().values()]
    files = [p for p in (tmp_path / "dbt").rglob("*") if p.is_file()]
    compiled = [p for p in files if p.suffix == ".sql" and "int_accounts_snapshotted" in p.name]
    assert compiled and "current_setting('crm.pseudonym_ipad')" in compiled[0].read_text(encoding="utf-8")
    leaks = [str(p) for p in files for form in forms if form in p.read_bytes().decode("utf-8", "replace")]
    assert leaks == []


def test_the_old_repository_salt_is_gone_except_from_the_refusal_list() -> None:
    out = subprocess.run(["git", "grep", "-l", "dev-only-pseudonym-salt"], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=False).stdout.split()
    assert sorted(out) == ["common/pseudonym.py", "tests/security/test_pseudonyms.py"]
