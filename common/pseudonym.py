"""The pseudonymous customer key: HMAC-SHA256 of the CRM account id under a secret key.

The key comes from a secret, never from the repository: the environment variable PSEUDONYM_KEY, else
Airflow's variable `pseudonym_key` (AIRFLOW_VAR_PSEUDONYM_KEY, or the variable store / secrets backend
inside a task). Outside development mode (CRM_RISK_DEVELOPMENT=1, set by `make demo`, `make test` and
the other local Make targets) a missing key, a short one or a known placeholder stops the pipeline,
dbt and the desk before they start. In development mode a fixed development key is used, with a
warning in the log: pseudonyms made with it can be reversed by anyone who has this file.

dbt computes the same HMAC in PostgreSQL (macro `pseudonymise`) from two session settings that
`session_options` puts in PGOPTIONS for the dbt process: the compiled SQL under dbt's target folder
names the settings, never the key. The desk maps account ids through `pseudonymise` here.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import sys

log = logging.getLogger(__name__)

KEY_ENV = "PSEUDONYM_KEY"
AIRFLOW_VARIABLE = "pseudonym_key"
DEVELOPMENT_ENV = "CRM_RISK_DEVELOPMENT"
MIN_KEY_LENGTH = 32
# Development only: known to everyone who reads this file, so refused outside development mode.
DEVELOPMENT_KEY = "development-only-pseudonym-key-never-use-with-real-data"
# Values a deployment may have left in place: the old repository salt, placeholders from examples.
KNOWN_DEFAULTS = frozenset(
    {DEVELOPMENT_KEY, "dev-only-pseudonym-salt", "change-me", "changeme", "secret", "password", "example"}
)
SETTING_INNER = "crm.pseudonym_ipad"  # session settings the dbt macro reads
SETTING_OUTER = "crm.pseudonym_opad"
_BLOCK = 64  # SHA-256 block size in bytes


class PseudonymKeyError(RuntimeError):
    """No usable pseudonym key outside development mode; nothing was started."""


def development_mode() -> bool:
    """CRM_RISK_DEVELOPMENT=1 (or true/yes): local demo, tests and benchmarks on simulated data."""
    return os.environ.get(DEVELOPMENT_ENV, "").strip().lower() in {"1", "true", "yes"}


def _from_airflow() -> str | None:
    value = os.environ.get(f"AIRFLOW_VAR_{AIRFLOW_VARIABLE.upper()}")
    if value:
        return value
    if "airflow.sdk" not in sys.modules:
        return None
    try:
        from airflow.sdk import Variable

        found = Variable.get(AIRFLOW_VARIABLE, default=None)
    except Exception:  # noqa: BLE001 - not inside a task, or no variable store: not configured
        return None
    return str(found) if found else None


def _problem(value: str | None) -> str | None:
    """Why a configured value is not a usable key (None when it is)."""
    if not value:
        if os.environ.get("PSEUDONYM_SALT"):
            return "PSEUDONYM_SALT is no longer read: the key is now PSEUDONYM_KEY (an HMAC key)"
        return f"no pseudonym key: set {KEY_ENV} (or the Airflow variable {AIRFLOW_VARIABLE})"
    if value.strip().lower() in KNOWN_DEFAULTS:
        return f"the pseudonym key is a published default value; set {KEY_ENV} to a secret of your own"
    if len(value) < MIN_KEY_LENGTH:
        return f"the pseudonym key is shorter than {MIN_KEY_LENGTH} characters"
    return None


@functools.cache
def _warn_development(reason: str) -> None:
    log.warning(
        "%s=1: %s; using the development pseudonym key, whose pseudonyms anyone can reverse. "
        "Never use development mode with real customer data.",
        DEVELOPMENT_ENV,
        reason,
    )


def pseudonym_key() -> bytes:
    """The HMAC key; PseudonymKeyError outside development mode when it is missing or a known default."""
    value = os.environ.get(KEY_ENV) or _from_airflow()
    problem = _problem(value)
    if problem is None:
        assert value is not None
        return value.encode("utf-8")
    if development_mode():
        _warn_development(problem)
        return DEVELOPMENT_KEY.encode("utf-8")
    raise PseudonymKeyError(
        f'{problem}. Generate one with `python -c "import secrets; print(secrets.token_urlsafe(48))"` '
        f"and keep it in the secrets store (docs/security.md, key handling); for a local demo on "
        f"simulated data set {DEVELOPMENT_ENV}=1 instead."
    )


def require_pseudonym_key() -> None:
    """Refuse to start (PseudonymKeyError) without a usable key; entry points call this first."""
    pseudonym_key()


def pseudonymise(account_id: str, key: bytes | str | None = None) -> str:
    """The first 32 hex characters of HMAC-SHA256(key, account_id as UTF-8), as the dbt macro computes it."""
    secret = pseudonym_key() if key is None else (key.encode("utf-8") if isinstance(key, str) else key)
    return hmac.new(secret, account_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104): the key (hashed when longer than a block) XOR 0x36 / 0x5c."""
    block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def session_settings(key: bytes | None = None) -> dict[str, str]:
    """The session settings the dbt macro computes the HMAC from (hex; secret like the key itself)."""
    inner, outer = _pads(pseudonym_key() if key is None else key)
    return {SETTING_INNER: inner.hex(), SETTING_OUTER: outer.hex()}


def session_options(key: bytes | None = None) -> str:
    """libpq `options` (PGOPTIONS) that set the settings for every connection of a process."""
    return " ".join(f"-c {name}={value}" for name, value in session_settings(key).items())


def sql_expression(column_sql: str) -> str:
    """The dbt macro's SQL for a column (for code outside dbt that maps ids in PostgreSQL, e.g. benchmarks):
    reads the session settings, so run `set_config_statements` in the same transaction first."""
    return (
        f"left(encode(sha256(decode(current_setting('{SETTING_OUTER}'), 'hex') || "
        f"sha256(decode(current_setting('{SETTING_INNER}'), 'hex') || convert_to({column_sql}, 'UTF8'))), "
        "'hex'), 32)"
    )


def set_config_statement() -> tuple[str, dict[str, str]]:
    """SQL and parameters that set the pseudonym settings for the current transaction only."""
    settings = session_settings()
    return (
        "select set_config(%(inner_name)s, %(inner)s, true), set_config(%(outer_name)s, %(outer)s, true)",
        {
            "inner_name": SETTING_INNER,
            "inner": settings[SETTING_INNER],
            "outer_name": SETTING_OUTER,
            "outer": settings[SETTING_OUTER],
        },
    )
