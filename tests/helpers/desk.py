"""The credit desk under test: a rated book written straight into ratings.*, tokens per role, and the
service itself running as a real uvicorn process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from common.paths import REPO_ROOT
from common.pseudonym import pseudonymise
from common.warehouse import transaction
from desk.auth import ROLES, issue_token

SEGMENTS = [("low", 1, ["AAA", "AA", "A"], 12), ("medium", 2, ["BBB", "BB"], 6), ("high", 3, ["B", "CCC"], 3),
            ("very_high", 4, ["CC", "D"], 1)]
SEGMENT_OF = {g: s for s, _, grades, _ in SEGMENTS for g in grades}


@dataclass
class Customer:
    """One rated customer of the test book, by CRM account id."""

    account_id: str
    grade: str = "A"
    pd: float = 0.004
    decision: str = "approve"
    current_limit: float | None = 100_000
    recommended_limit: float = 120_000
    open_receivables: float = 20_000
    reason_codes: list[str] = field(default_factory=lambda: ["PAY02", "EXP02"])
    history: list[tuple[date, float, str]] = field(default_factory=list)  # earlier versions (from, pd, grade)

    @property
    def customer_id(self) -> str:
        return pseudonymise(self.account_id)


def seed_book(url: str, customers: list[Customer], as_of: date | None = None) -> date:
    """Publish the customers as rated on as_of (today by default), with their earlier versions and exposure."""
    as_of = as_of or date.today()
    with transaction(url) as cur:
        cur.execute("insert into ratings.risk_segments values " + ", ".join(["(%s, %s, %s, %s, 'test')"] * 4)
                    + " on conflict do nothing", [v for s in SEGMENTS for v in s])
        dates = sorted({as_of} | {d for c in customers for d, _, _ in c.history})
        for d in dates:
            cur.execute("insert into ratings.rated_dates (as_of_date, run_id, scored_at, model_name, model_version,"
                        " rows_published) values (%s, 'seed', now(), 'crm_credit_pd', '1', %s)"
                        " on conflict do nothing", (d, len(customers)))
        for c in customers:
            versions = [*c.history, (as_of, c.pd, c.grade)]
            for i, (start, pd, grade) in enumerate(versions):
                end = versions[i + 1][0] if i + 1 < len(versions) else date(9999, 12, 31)
                last = i + 1 == len(versions)
                cur.execute(
                    "insert into ratings.customer_rating_versions (customer_id, valid_from_date, valid_to_date,"
                    " pd_12m, score, rating_grade, risk_segment, current_credit_limit, recommended_credit_limit,"
                    " decision, decision_rationale, reason_codes, model_name, model_version, run_id, scored_at)"
                    " values (%s, %s, %s, %s, 600, %s, %s, %s, %s, %s, %s, %s, 'crm_credit_pd', '1', 'seed', now())",
                    (c.customer_id, start, end, pd, grade, SEGMENT_OF[grade], c.current_limit,
                     c.recommended_limit, c.decision if last else "approve",
                     f"Grade {grade}: decision {c.decision if last else 'approve'}",
                     c.reason_codes if last else []))
            cur.execute("insert into desk.customer_exposure (customer_id, as_of_date, open_receivables)"
                        " values (%s, %s, %s)", (c.customer_id, as_of - timedelta(days=1), c.open_receivables))
    return as_of


def add_warning(url: str, customer: Customer, severity: str = "critical", rule: str = "DPD_60",
                message: str = "Invoices 60+ days past due") -> None:
    with transaction(url) as cur:
        cur.execute("insert into ratings.credit_warnings (customer_id, rule_code, severity, metric_value, threshold,"
                    " message, first_seen_date, last_seen_date, status) values (%s, %s, %s, 75, 60, %s,"
                    " current_date - 3, current_date, 'open')", (customer.customer_id, rule, severity, message))


def as_desk_service(url: str) -> str:
    """The test warehouse's URL, logged in as the desk's own role."""
    return sa.make_url(url).set(username="desk_service", password=None).render_as_string(hide_password=False)


def issue_tokens(url: str, users: dict[str, str] | None = None) -> dict[str, str]:
    """{user: token}; by default one user per role, named after the role."""
    users = users or {role: role for role in ROLES}
    with transaction(as_desk_service(url)) as cur:
        return {user: issue_token(cur, user, role) for user, role in users.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_desk(url: str, log: Path, config_dir: Path | None = None) -> Iterator[str]:
    """`python -m desk serve` on a free port over the warehouse at url (as desk_service); yields its base URL."""
    port = free_port()
    env = {**os.environ, "DESK_WAREHOUSE_URL": as_desk_service(url)}
    if config_dir:
        env["CRM_RISK_CONFIG_DIR"] = str(config_dir)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "desk", "serve", "--port", str(port)], cwd=REPO_ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the desk did not start: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_sql(url: str, statement: str, params: tuple = ()) -> int:
    """Run one statement that returns no rows; its row count."""
    with transaction(url) as cur:
        cur.execute(statement, params)
        return cur.rowcount
