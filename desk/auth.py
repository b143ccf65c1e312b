"""Who may do what: API tokens (stored as SHA-256 only) and the fixed list of actions per role."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import psycopg2.extensions

from desk.queries import queries

# Every action the desk performs, and the roles allowed it. A role can do what its list says and
# nothing else; tests/desk/test_desk_roles.py walks the whole matrix against the running service.
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "sales": frozenset({"check.create"}),
    "credit_analyst": frozenset(
        {
            "check.create",
            "check.read",
            "check.close",
            "case.read",
            "case.close",
            "case.sync",
            "customer.read",
            "override.request",
        }
    ),
    "credit_manager": frozenset(
        {
            "check.create",
            "check.read",
            "check.close",
            "case.read",
            "case.close",
            "case.sync",
            "customer.read",
            "override.request",
            "override.approve",
            "block.lift",
            "audit.read",
        }
    ),
    "auditor": frozenset({"check.read", "case.read", "customer.read", "audit.read"}),
}
ROLES = tuple(ROLE_ACTIONS)
TOKEN_CACHE_SECONDS = 30.0  # a revoked token stops working within this time


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as its token says."""

    user: str
    role: str

    def may(self, action: str) -> bool:
        return action in ROLE_ACTIONS.get(self.role, frozenset())


def token_hash(token: str) -> str:
    """SHA-256 of a token: what the warehouse stores (tokens are 256-bit random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(cur: psycopg2.extensions.cursor, user: str, role: str) -> str:
    """Create a token for user with role; returns the token, which is shown once and never stored."""
    if role not in ROLE_ACTIONS:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if not user.strip():
        raise ValueError("a token needs a user name")
    issued = secrets.token_urlsafe(32)
    cur.execute(queries("desk")["insert_token"], {"user": user, "role": role, "hash": token_hash(issued)})
    return issued


def revoke_tokens(cur: psycopg2.extensions.cursor, user: str) -> int:
    """Revoke every live token of a user; returns how many."""
    cur.execute(queries("desk")["revoke_tokens"], {"user": user})
    return max(cur.rowcount, 0)


class TokenCache:
    """Token hash -> Principal for a short time, so a credit check does not pay a lookup per request.

    A hit needs no warehouse connection at all; only a miss (or an entry older than the TTL) opens one.
    Revocation therefore takes effect within `ttl` seconds, as before.
    """

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def principal(
        self,
        token: str,
        transaction: Callable[[], AbstractContextManager[psycopg2.extensions.cursor]],
    ) -> Principal | None:
        """The token's principal (None: unknown or revoked); `transaction()` is entered only on a miss."""
        digest = token_hash(token)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(digest)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        with transaction() as cur:
            cur.execute(queries("desk")["token_principal"], {"hash": digest})
            row = cur.fetchone()
        found = Principal(user=row[0], role=row[1]) if row else None
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (now, found)
        return found
