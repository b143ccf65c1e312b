"""What the desk does, one function per action, each inside the caller's transaction (with its audit row).

The HTTP layer (desk.app) authenticates, checks the role and maps errors to status codes; these
functions decide and write. A failure anywhere rolls back the whole action, audit row included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg2.extensions

from common.warehouse import column_names
from desk import audit
from desk.auth import Principal
from desk.queries import Prepared, prepared, queries
from desk.rules import CheckFacts, evaluate
from desk.settings import DeskConfig

CENT = Decimal("0.01")


class DeskError(Exception):
    """A request the desk refuses: status (4xx) and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CheckRequest:
    customer_id: str
    amount: Decimal
    currency: str
    order_ref: str | None


def _sql(name: str) -> str:
    return queries("desk")[name]


# The credit check's statements: prepared once per connection by the service's pool (desk.app), so the
# server neither parses nor plans them per check.
CHECK_STATEMENTS: tuple[Prepared, ...] = tuple(
    prepared("desk", name) for name in ("check_lock", "check_facts", "record_check")
)


def _execute(cur: psycopg2.extensions.cursor, *names: str, params: dict[str, Any]) -> None:
    """Run named statements in one round trip, each as its prepared statement when the connection has it."""
    ready: frozenset[str] = getattr(cur.connection, "prepared", frozenset())
    statements = []
    for name in names:
        statement = prepared("desk", name)
        statements.append(statement.execute if statement.name in ready else _sql(name).rstrip(";"))
    cur.execute(";\n".join(statements), params)


def _rows(cur: psycopg2.extensions.cursor) -> list[dict[str, Any]]:
    names = column_names(cur)
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def to_eur(cfg: DeskConfig, amount: Decimal, currency: str) -> Decimal:
    """The order amount in EUR at the configured rate; an unknown currency is a 422."""
    rate = cfg.fx_to_eur.get(currency)
    if rate is None:
        raise DeskError(
            422, f"unknown currency {currency!r}: accepted are {', '.join(sorted(cfg.fx_to_eur))}"
        )
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def load_facts(cur: psycopg2.extensions.cursor, customer_id: str) -> tuple[CheckFacts, str] | None:
    """The facts a check decides from and the customer's risk segment, or None for an unrated customer."""
    _execute(cur, "check_lock", "check_facts", params={"c": customer_id})
    row = cur.fetchone()
    if row is None:
        return None
    *values, segment = row
    (
        cid,
        as_of,
        grade,
        pd,
        decision,
        current,
        recommended,
        override,
        receivables,
        orders,
        pending,
        warnings,
        block,
    ) = values
    facts = CheckFacts(
        customer_id=cid,
        rating_as_of=as_of,
        rating_grade=grade,
        pd_12m=pd,
        decision=decision,
        current_credit_limit=current,
        recommended_credit_limit=recommended,
        override_limit=override,
        open_receivables=Decimal(receivables),
        open_orders=Decimal(orders),
        pending_checks=Decimal(pending),
        critical_warnings=list(warnings),
        block_reason=block,
    )
    return facts, segment


def credit_check(
    cur: psycopg2.extensions.cursor, cfg: DeskConfig, who: Principal, req: CheckRequest, today: date
) -> dict[str, Any]:
    """Decide pass/refer/block for an order, record the check (and a case for a referral), audit it."""
    amount_eur = to_eur(cfg, req.amount, req.currency)
    loaded = load_facts(cur, req.customer_id)  # takes the customer's check lock first
    if loaded is None:
        raise DeskError(404, "unknown customer: no rating is published for this account id")
    facts, segment = loaded
    result = evaluate(facts, amount_eur, today, cfg.check)
    _execute(
        cur,
        "record_check",
        params={
            "customer_id": req.customer_id,
            "order_ref": req.order_ref,
            "amount": req.amount,
            "currency": req.currency,
            "amount_eur": amount_eur,
            "outcome": result.outcome,
            "reasons": result.reasons,
            "rating_as_of": facts.rating_as_of,
            "rating_grade": facts.rating_grade,
            "pd_12m": facts.pd_12m,
            "credit_limit": facts.limit,
            "exposure_eur": facts.exposure,
            "requested_by": who.user,
            "role": who.role,
            "refer": result.outcome == "refer",
            "case_title": f"{req.amount} {req.currency}: " + "; ".join(result.reasons),
            "segment": segment,
            "teams": json.dumps(cfg.team_by_segment),
            "default_team": cfg.default_team,
            "max_days": cfg.max_due_days["check"],
            "detail": json.dumps(
                {"customer_id": req.customer_id, "amount": str(req.amount), "currency": req.currency}
            ),
        },
    )
    check_id, created_at, case_id = cur.fetchone() or (None, None, None)
    return {
        "check_id": check_id,
        "customer_id": req.customer_id,
        "outcome": result.outcome,
        "reasons": result.reasons,
        "amount": str(req.amount),
        "currency": req.currency,
        "amount_eur": str(amount_eur),
        "credit_limit": str(facts.limit),
        "limit_source": facts.limit_source,
        "exposure_before_eur": str(facts.exposure),
        "rating_grade": facts.rating_grade,
        "rating_as_of": facts.rating_as_of.isoformat() if facts.rating_as_of else None,
        "case_id": case_id,
        "checked_at": created_at.isoformat() if created_at else None,
    }


def sync_cases(cur: psycopg2.extensions.cursor, cfg: DeskConfig, who: Principal) -> dict[str, int]:
    """Open cases for review/hold decisions and new critical warnings of the latest ratings (idempotent)."""
    teams = json.dumps(cfg.team_by_segment)
    cur.execute(
        _sql("sync_decision_cases"),
        {
            "teams": teams,
            "default_team": cfg.default_team,
            "max_days": cfg.max_due_days["decision"],
            "decisions": list(cfg.case_decisions),
        },
    )
    decisions = max(cur.rowcount, 0)
    cur.execute(
        _sql("sync_warning_cases"),
        {
            "teams": teams,
            "default_team": cfg.default_team,
            "max_days": cfg.max_due_days["warning"],
            "severities": list(cfg.case_warning_severities),
        },
    )
    warnings = max(cur.rowcount, 0)
    opened = {"decision_cases_opened": decisions, "warning_cases_opened": warnings}
    audit.record(cur, actor=who.user, role=who.role, action="case.sync", outcome="done", detail=opened)
    return opened


def after_publish(cur: psycopg2.extensions.cursor, cfg: DeskConfig) -> dict[str, int]:
    """What the desk needs after each daily publish, in the caller's transaction (the warehouse owner's:
    it reads the feature mart): the exposure snapshot refreshed from marts.customer_features, then the
    cases of the new ratings opened. Idempotent: a rerun refreshes the same rows and opens no case twice."""
    cur.execute(queries("exposure")["refresh_from_mart"])
    refreshed = max(cur.rowcount, 0)
    opened = sync_cases(cur, cfg, Principal(user="daily-publish", role="credit_manager"))
    return {"exposure_refreshed": refreshed, **opened}


def _override_expiry(cfg: DeskConfig, today: date, expires_on: date | None) -> date:
    expires = expires_on or today + timedelta(days=cfg.override_default_days)
    if expires <= today:
        raise DeskError(422, "override_expires_on must lie in the future")
    if expires > today + timedelta(days=cfg.override_max_days):
        raise DeskError(422, f"an override may last at most {cfg.override_max_days} days")
    return expires


def close_case(
    cur: psycopg2.extensions.cursor,
    cfg: DeskConfig,
    who: Principal,
    case_id: int,
    body: dict[str, Any],
    today: date,
) -> dict[str, Any]:
    """Close an open case with an outcome and a reason code; an override may need a second approver."""
    outcome, reason_code, note = body["outcome"], body["reason_code"], (body.get("note") or "").strip()
    if outcome not in cfg.outcomes:
        raise DeskError(422, f"unknown outcome {outcome!r}: one of {', '.join(cfg.outcomes)}")
    if reason_code not in cfg.reason_codes:
        raise DeskError(422, f"unknown reason_code {reason_code!r}: one of {', '.join(cfg.reason_codes)}")
    cur.execute(_sql("case_for_update"), {"id": case_id})
    row = cur.fetchone()
    if row is None:
        raise DeskError(404, f"no case {case_id}")
    _, customer_id, source, source_key, status = row
    if status != "open":
        raise DeskError(409, f"case {case_id} is already closed")
    result: dict[str, Any] = {"case_id": case_id, "outcome": outcome, "reason_code": reason_code}
    if outcome == "override_limit":
        result["override"] = _request_override(cur, cfg, who, customer_id, case_id, body, note, today)
    elif body.get("override_limit") is not None:
        raise DeskError(422, "override_limit is only allowed with outcome override_limit")
    if outcome == "block":
        if not note:
            raise DeskError(422, "a block needs a note saying why")
        cur.execute(_sql("insert_block"), {"c": customer_id, "reason": note, "user": who.user})
    if outcome in ("release_order", "reject_order"):
        if source != "check":
            raise DeskError(422, f"outcome {outcome} applies only to cases of referred checks")
        new_status = "approved" if outcome == "release_order" else "rejected"
        cur.execute(_sql("set_check_status"), {"id": int(source_key.split(":", 1)[1]), "status": new_status})
    cur.execute(
        _sql("close_case"),
        {
            "id": case_id,
            "user": who.user,
            "outcome": outcome,
            "reason_code": reason_code,
            "note": note or None,
        },
    )
    audit.record(
        cur,
        actor=who.user,
        role=who.role,
        action="case.close",
        outcome=outcome,
        target=f"case:{case_id}",
        why=f"{reason_code}: {note}" if note else reason_code,
        detail=result,
    )
    return result


def _request_override(
    cur: psycopg2.extensions.cursor,
    cfg: DeskConfig,
    who: Principal,
    customer_id: str,
    case_id: int,
    body: dict[str, Any],
    note: str,
    today: date,
) -> dict[str, Any]:
    if not who.may("override.request"):
        raise DeskError(403, f"role {who.role} may not override limits")
    limit = body.get("override_limit")
    if limit is None:
        raise DeskError(422, "outcome override_limit needs override_limit")
    if not note:
        raise DeskError(422, "an override needs a note with its reason")
    expires = _override_expiry(cfg, today, body.get("override_expires_on"))
    cur.execute(_sql("latest_version"), {"c": customer_id})
    grade, recommended, _ = cur.fetchone() or (None, None, None)
    status = "pending_approval" if Decimal(limit) > cfg.four_eyes_above else "active"
    cur.execute(
        _sql("insert_override"),
        {
            "c": customer_id,
            "case_id": case_id,
            "limit": limit,
            "recommended": recommended,
            "grade": grade,
            "reason": note,
            "expires": expires,
            "user": who.user,
            "status": status,
        },
    )
    override_id, status = cur.fetchone() or (None, status)
    return {
        "override_id": override_id,
        "status": status,
        "override_limit": str(limit),
        "expires_on": expires.isoformat(),
        "four_eyes": status == "pending_approval",
    }


def decide_override(
    cur: psycopg2.extensions.cursor, who: Principal, override_id: int, approve: bool, why: str
) -> dict[str, Any]:
    """The second approver accepts or rejects a pending override; never the one who requested it."""
    cur.execute(_sql("override_for_update"), {"id": override_id})
    row = cur.fetchone()
    if row is None:
        raise DeskError(404, f"no override {override_id}")
    _, customer_id, status, requested_by, limit = row
    if status != "pending_approval":
        raise DeskError(409, f"override {override_id} is {status}, not pending approval")
    if requested_by == who.user:
        raise DeskError(403, "four eyes: the analyst who requested an override cannot approve it")
    new_status = "active" if approve else "rejected"
    cur.execute(_sql("decide_override"), {"id": override_id, "status": new_status, "user": who.user})
    audit.record(
        cur,
        actor=who.user,
        role=who.role,
        action="override.approve",
        outcome=new_status,
        target=f"override:{override_id}",
        why=why,
        detail={"customer_id": customer_id, "override_limit": limit, "requested_by": requested_by},
    )
    return {"override_id": override_id, "status": new_status}


def close_check(cur: psycopg2.extensions.cursor, who: Principal, check_id: int, why: str) -> dict[str, Any]:
    """A passed (or released) order was invoiced or cancelled: it stops counting as exposure."""
    cur.execute(_sql("set_check_status"), {"id": check_id, "status": "closed"})
    if cur.fetchone() is None:
        raise DeskError(404, f"no open check {check_id}")
    audit.record(
        cur,
        actor=who.user,
        role=who.role,
        action="check.close",
        outcome="closed",
        target=f"check:{check_id}",
        why=why,
    )
    return {"check_id": check_id, "status": "closed"}


def lift_block(cur: psycopg2.extensions.cursor, who: Principal, customer_id: str, why: str) -> dict[str, Any]:
    cur.execute(_sql("lift_block"), {"c": customer_id, "user": who.user})
    if cur.rowcount == 0:
        raise DeskError(404, "the customer has no open block")
    audit.record(
        cur,
        actor=who.user,
        role=who.role,
        action="block.lift",
        outcome="lifted",
        target=f"customer:{customer_id}",
        why=why,
    )
    return {"customer_id": customer_id, "blocked": False}


def list_cases(
    cur: psycopg2.extensions.cursor,
    status: str | None,
    owner: str | None,
    customer_id: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    cur.execute(_sql("list_cases"), {"status": status, "owner": owner, "c": customer_id, "limit": limit})
    return _rows(cur)


def customer_view(cur: psycopg2.extensions.cursor, customer_id: str) -> dict[str, Any] | None:
    """Everything the customer page shows; None for a customer without ratings."""
    cur.execute(_sql("rating_history"), {"c": customer_id})
    history = _rows(cur)
    if not history:
        return None
    out: dict[str, Any] = {"customer_id": customer_id, "rating_history": history}
    for key, name in (("warnings", "customer_warnings"), ("overrides", "customer_overrides")):
        cur.execute(_sql(name), {"c": customer_id})
        out[key] = _rows(cur)
    cur.execute(_sql("list_checks"), {"c": customer_id, "limit": 50})
    out["checks"] = _rows(cur)
    cur.execute(_sql("customer_exposure"), {"c": customer_id})
    exposure = _rows(cur)
    out["exposure"] = exposure[0] if exposure else None
    out["cases"] = list_cases(cur, None, None, customer_id, 50)
    return out


def list_audit(cur: psycopg2.extensions.cursor, actor: str | None, limit: int) -> list[dict[str, Any]]:
    cur.execute(_sql("list_audit"), {"actor": actor, "limit": limit})
    return _rows(cur)


MANAGER_MAX_LENGTH = 100


def read_managers(lines: Any, source: str) -> dict[str, str]:
    """A CRM export of account managers (CSV with the columns account_id and manager) -> {customer_id: manager}.

    Every row is checked before anything is written: a bad account id, an empty or overlong manager, or an
    account given two different managers is a ValueError naming the file and line of each problem.
    """
    import csv

    from desk.customers import customer_id_for

    reader = csv.DictReader(lines)
    missing = {"account_id", "manager"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(
            f"{source}: the header lacks {', '.join(sorted(missing))} (columns: account_id,manager)"
        )
    managers: dict[str, str] = {}
    seen: dict[str, tuple[str, int]] = {}
    problems: list[str] = []
    for row in reader:
        line = reader.line_num
        account_id, manager = (row.get("account_id") or "").strip(), (row.get("manager") or "").strip()
        if not manager or len(manager) > MANAGER_MAX_LENGTH:
            problems.append(f"line {line}: manager must be 1 to {MANAGER_MAX_LENGTH} characters")
            continue
        try:
            customer = customer_id_for(account_id)
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if account_id in seen and seen[account_id][0] != manager:
            problems.append(
                f"line {line}: {account_id} already has manager {seen[account_id][0]!r} (line {seen[account_id][1]})"
            )
            continue
        seen[account_id] = (manager, line)
        managers[customer] = manager
    if problems:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise ValueError(f"{source}: {len(problems)} bad row(s), nothing loaded: {shown}")
    return managers


def load_managers(
    cur: psycopg2.extensions.cursor, managers: dict[str, str], who: Principal, source: str
) -> int:
    """Assign the account managers (the case owner of their customers from now on), with one audit row.

    Customers not in the export keep their manager (the export may be partial); returns the number of
    assignments added or changed.
    """
    customers = sorted(managers)
    cur.execute(
        _sql("upsert_managers"), {"customers": customers, "managers": [managers[c] for c in customers]}
    )
    changed = max(cur.rowcount, 0)
    audit.record(
        cur,
        actor=who.user,
        role=who.role,
        action="managers.load",
        outcome="ok",
        target=source[:200],
        detail={"rows": len(customers), "changed": changed},
    )
    return changed
