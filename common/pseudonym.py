"""The pseudonymous customer key in Python, equal to the dbt macro `pseudonymise` for the same salt.

Services that take a CRM account id (the credit desk) map it to the warehouse's `customer_id` here,
so the key is computed in exactly one place per language and a change of scheme touches both.
"""

from __future__ import annotations

import hashlib
import os

DEV_SALT = "dev-only-pseudonym-salt"  # the macro's development default; production sets PSEUDONYM_SALT


def pseudonym_salt() -> str:
    """PSEUDONYM_SALT, else the development default (as the dbt macro reads it)."""
    return os.environ.get("PSEUDONYM_SALT", DEV_SALT)


def pseudonymise(account_id: str, salt: str | None = None) -> str:
    """The first 32 hex characters of SHA-256 over `<salt>:<account_id>` (UTF-8), as dbt computes it."""
    key = pseudonym_salt() if salt is None else salt
    return hashlib.sha256(f"{key}:{account_id}".encode()).hexdigest()[:32]
