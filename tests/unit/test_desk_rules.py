"""The credit check's rules and the Python pseudonym, without a service."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from common.config import load_config
from common.pseudonym import pseudonymise
from desk.customers import customer_id_for
from desk.rules import CheckFacts, evaluate
from desk.settings import DeskConfig

CFG = DeskConfig.load()
TODAY = date(2026, 12, 4)


def facts(**over) -> CheckFacts:
    base = dict(customer_id="c", rating_as_of=TODAY, rating_grade="A", pd_12m=0.004, decision="approve",
                current_credit_limit=Decimal(100_000), recommended_credit_limit=Decimal(120_000),
                override_limit=None, open_receivables=Decimal(50_000), open_orders=Decimal(10_000),
                pending_checks=Decimal(5_000))
    return CheckFacts(**(base | over))


@pytest.mark.parametrize(("amount", "outcome"), [(35_000, "pass"), (35_001, "refer"), (85_000, "refer"),
                                                 (85_001, "block")])
def test_exposure_counts_receivables_orders_and_pending_checks_against_the_limit(amount, outcome) -> None:
    assert evaluate(facts(), Decimal(amount), TODAY, CFG.check).outcome == outcome


def test_the_most_severe_rule_wins_and_every_reason_is_kept() -> None:
    result = evaluate(facts(decision="hold", rating_grade="D"), Decimal(1), TODAY, CFG.check)
    assert result.outcome == "block" and len(result.reasons) == 2


def test_an_override_replaces_the_limit() -> None:
    result = evaluate(facts(override_limit=Decimal(200_000)), Decimal(100_000), TODAY, CFG.check)
    assert result.outcome == "pass" and "limit override" in result.reasons[0]


def test_the_desk_maps_account_ids_through_the_one_pseudonym_function() -> None:
    assert customer_id_for("A000001") == pseudonymise("A000001") != pseudonymise("A000001", key="other-key")


def test_account_ids_that_could_carry_sql_are_refused() -> None:
    with pytest.raises(ValueError, match="not a CRM account id"):
        customer_id_for("x' or 1=1 --")


def test_the_desk_config_loads_and_a_missing_key_is_named() -> None:
    raw = load_config("desk")
    with pytest.raises(ValueError, match="missing key 'check'"):
        DeskConfig.from_dict({k: v for k, v in raw.items() if k != "check"})
