"""The order-time credit check as a pure function: facts about a customer + an order -> outcome and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from desk.settings import CheckRules

SEVERITY = {"pass": 0, "refer": 1, "block": 2}


@dataclass(frozen=True)
class CheckFacts:
    """What the warehouse knows about a customer at the time of a check."""

    customer_id: str
    rating_as_of: date | None
    rating_grade: str
    pd_12m: float
    decision: str
    current_credit_limit: Decimal | None
    recommended_credit_limit: Decimal
    override_limit: Decimal | None
    open_receivables: Decimal
    open_orders: Decimal
    pending_checks: Decimal
    critical_warnings: list[str] = field(default_factory=list)
    block_reason: str | None = None

    @property
    def limit(self) -> Decimal:
        """An active override, else the current limit, else the recommended one (new customers)."""
        if self.override_limit is not None:
            return self.override_limit
        if self.current_credit_limit is not None:
            return self.current_credit_limit
        return self.recommended_credit_limit

    @property
    def limit_source(self) -> str:
        if self.override_limit is not None:
            return "limit override"
        return "current credit limit" if self.current_credit_limit is not None else "recommended limit"

    @property
    def exposure(self) -> Decimal:
        """Open receivables + open orders + checks passed but not yet invoiced."""
        return self.open_receivables + self.open_orders + self.pending_checks


@dataclass(frozen=True)
class CheckResult:
    outcome: str
    reasons: list[str]


def _eur(amount: Decimal) -> str:
    return f"{amount:,.2f} EUR"


def evaluate(facts: CheckFacts, amount_eur: Decimal, today: date, rules: CheckRules) -> CheckResult:
    """pass, refer or block, with every reason that applied, in words.

    The outcome is the most severe of the rules that fired; a pass says why it passed.
    """
    fired: list[tuple[str, str]] = []
    after = facts.exposure + amount_eur
    limit = facts.limit
    if facts.block_reason:
        fired.append(("block", f"Customer is blocked for new orders: {facts.block_reason}"))
    if facts.decision in rules.block_decisions:
        fired.append(("block", f"Latest credit decision is '{facts.decision}': no new credit"))
    if facts.rating_grade in rules.block_grades:
        fired.append(("block", f"Rating grade {facts.rating_grade} (in default)"))
    if limit <= 0 or after > limit * rules.block_over_limit_ratio:
        fired.append(
            (
                "block",
                f"Exposure after this order {_eur(after)} is more than "
                f"{rules.block_over_limit_ratio} x the {facts.limit_source} {_eur(limit)}",
            )
        )
    elif after > limit:
        fired.append(
            (
                "refer",
                f"Exposure after this order {_eur(after)} exceeds the {facts.limit_source} {_eur(limit)}",
            )
        )
    if facts.decision in rules.refer_decisions:
        fired.append(
            ("refer", f"Latest credit decision is '{facts.decision}': a credit analyst reviews new orders")
        )
    if rules.refer_on_critical_warning and facts.critical_warnings:
        fired.append(("refer", "Open critical early warning: " + "; ".join(facts.critical_warnings)))
    if amount_eur > rules.refer_above_amount:
        fired.append(
            (
                "refer",
                f"Order of {_eur(amount_eur)} is above the single-order referral amount "
                f"{_eur(rules.refer_above_amount)}",
            )
        )
    age = (today - facts.rating_as_of).days if facts.rating_as_of else None
    if age is None or age > rules.max_rating_age_days:
        when = facts.rating_as_of.isoformat() if facts.rating_as_of else "never"
        fired.append(
            (
                "refer",
                f"Latest rating is out of date (rated {when}; at most "
                f"{rules.max_rating_age_days} days old is relied on)",
            )
        )
    if not fired:
        return CheckResult(
            "pass",
            [
                f"Within the {facts.limit_source}: exposure after this order {_eur(after)} "
                f"of {_eur(limit)}; grade {facts.rating_grade}, no blocking signal"
            ],
        )
    outcome = max((o for o, _ in fired), key=SEVERITY.__getitem__)
    return CheckResult(outcome, [reason for _, reason in fired])
