"""CRM account id -> the warehouse's pseudonymous customer_id: the one place the desk maps them."""

from __future__ import annotations

import re

from common.pseudonym import pseudonymise

# CRM account ids as the sources carry them (letters, digits, '.', '_', '-'); anything else is refused
# before it is hashed, so a typo gets a clear 422 instead of an "unknown customer".
ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)
CUSTOMER_ID_PATTERN = r"^[0-9a-f]{32}$"


def customer_id_for(account_id: str) -> str:
    """The pseudonymous customer_id the warehouse holds for a CRM account id.

    Every desk path that takes an account id goes through here; a change of pseudonym scheme changes
    common.pseudonym (and the dbt macro), never the desk.
    """
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise ValueError(f"not a CRM account id: {account_id!r}")
    return pseudonymise(account_id)
