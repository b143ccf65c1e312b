"""The desk's rules from config/desk.yml, checked once when the service starts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from common.config import load_config


@dataclass(frozen=True)
class CheckRules:
    """How an order-time credit check decides (config/desk.yml `check`)."""

    block_decisions: frozenset[str]
    block_grades: frozenset[str]
    block_over_limit_ratio: Decimal
    refer_decisions: frozenset[str]
    refer_on_critical_warning: bool
    refer_above_amount: Decimal
    max_rating_age_days: int


@dataclass(frozen=True)
class DeskConfig:
    """Everything the desk reads from config/desk.yml."""

    fx_to_eur: dict[str, Decimal]
    check: CheckRules
    team_by_segment: dict[str, str]
    default_team: str
    max_due_days: dict[str, int]
    case_decisions: tuple[str, ...]
    case_warning_severities: tuple[str, ...]
    outcomes: dict[str, str]
    reason_codes: dict[str, str]
    four_eyes_above: Decimal
    override_default_days: int
    override_max_days: int
    max_body_bytes: int

    @classmethod
    def load(cls) -> DeskConfig:
        """Read and check config/desk.yml; a missing key or a bad value fails here, naming it."""
        return cls.from_dict(load_config("desk"))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DeskConfig:
        try:
            check, queue, overrides = raw["check"], raw["queue"], raw["overrides"]
            fx = {str(k): Decimal(str(v)) for k, v in raw["currencies"].items()}
            if not fx or any(rate <= 0 for rate in fx.values()):
                raise ValueError("currencies: every rate must be > 0")
            cfg = cls(
                fx_to_eur=fx,
                check=CheckRules(
                    block_decisions=frozenset(check["block_decisions"]),
                    block_grades=frozenset(check["block_grades"]),
                    block_over_limit_ratio=Decimal(str(check["block_over_limit_ratio"])),
                    refer_decisions=frozenset(check["refer_decisions"]),
                    refer_on_critical_warning=bool(check["refer_on_critical_warning"]),
                    refer_above_amount=Decimal(str(check["refer_above_amount"])),
                    max_rating_age_days=int(check["max_rating_age_days"]),
                ),
                team_by_segment={str(k): str(v) for k, v in queue["team_by_segment"].items()},
                default_team=str(queue["default_team"]),
                max_due_days={str(k): int(v) for k, v in queue["max_due_days"].items()},
                case_decisions=tuple(queue["case_decisions"]),
                case_warning_severities=tuple(queue["case_warning_severities"]),
                outcomes={str(k): str(v) for k, v in raw["outcomes"].items()},
                reason_codes={str(k): str(v) for k, v in raw["reason_codes"].items()},
                four_eyes_above=Decimal(str(overrides["four_eyes_above"])),
                override_default_days=int(overrides["default_days"]),
                override_max_days=int(overrides["max_days"]),
                max_body_bytes=int(raw["max_body_bytes"]),
            )
        except KeyError as exc:
            raise ValueError(f"config/desk.yml: missing key {exc}") from exc
        missing = {"decision", "warning", "check"} - cfg.max_due_days.keys()
        if missing:
            raise ValueError(f"config/desk.yml: queue.max_due_days needs {sorted(missing)}")
        if not 0 < cfg.override_default_days <= cfg.override_max_days:
            raise ValueError("config/desk.yml: overrides need 0 < default_days <= max_days")
        return cfg
