"""Validation results as rows of audit.data_quality_results, and the messages people read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg2.extras import execute_values

_MAX_SAMPLE = 5


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=_json_default)


@dataclass
class CheckResult:
    """One expectation evaluated (or skipped) on one batch."""

    suite: str
    table: str
    expectation_type: str
    check: str | None
    column: str | None
    kwargs: dict[str, Any]
    severity: str
    success: bool | None  # None: not evaluated (no bound for this run, e.g. no previous batch)
    unexpected_count: int | None
    element_count: int | None
    unexpected_percent: float | None
    observed_value: Any
    message: str

    @property
    def failed_critical(self) -> bool:
        return self.success is False and self.severity == "critical"

    @property
    def failed_warning(self) -> bool:
        return self.success is False and self.severity == "warning"

    def headline(self) -> str:
        """table, expectation and failing count in one line (used in the gate's error message)."""
        column = f"({self.column})" if self.column else ""
        return f"{self.table}: {self.expectation_type}{column} [{self.check}] - {self.message}"


def _column(kwargs: dict[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _bounds(kwargs: dict[str, Any]) -> str:
    if "quantile_ranges" in kwargs:
        ranges = kwargs["quantile_ranges"]
        return "quantile ranges " + ", ".join(
            f"q{q}: {r}" for q, r in zip(ranges["quantiles"], ranges["value_ranges"], strict=False)
        )
    if "value" in kwargs:
        return f"expected {kwargs['value']}"
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None:
        return ""
    return f"expected between {_short(low)} and {_short(high)}"


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _exception_message(info: dict[str, Any]) -> str | None:
    """The error of a result; GX nests it per metric for query-based expectations."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def from_gx(suite: str, table: str, gx_result: Any) -> CheckResult:
    """A CheckResult from one GX ExpectationValidationResult."""
    config = gx_result.expectation_config
    kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
    meta = dict(config.meta or {})
    result = dict(gx_result.result or {})
    error = _exception_message(gx_result.exception_info or {})
    if config.type == "unexpected_rows_expectation" and isinstance(result.get("observed_value"), int):
        unexpected = result["observed_value"]
    else:
        unexpected = result.get("unexpected_count")
    element = result.get("element_count")
    observed = result.get("observed_value")
    if error:
        message = f"error while checking: {error[:500]}"
    elif unexpected is not None and element is not None:
        sample = result.get("partial_unexpected_list") or []
        message = f"{unexpected} of {element} rows unexpected"
        if unexpected and sample:
            message += f" (e.g. {to_json(sample[:_MAX_SAMPLE])})"
    elif unexpected is not None:
        message = f"{unexpected} unexpected rows"
    else:
        details = result.get("details", {})
        message = f"observed {to_json(observed)}"
        bounds = _bounds(kwargs)
        if bounds:
            message += f", {bounds}"
        if details.get("mismatched"):
            message += f", mismatched columns {to_json(details['mismatched'])}"
    return CheckResult(
        suite=suite,
        table=table,
        expectation_type=config.type,
        check=meta.get("check"),
        column=_column(kwargs),
        kwargs=kwargs,
        severity=str(meta.get("severity", "critical")),
        success=bool(gx_result.success) and not error,
        unexpected_count=None if unexpected is None else int(unexpected),
        element_count=None if element is None else int(element),
        unexpected_percent=result.get("unexpected_percent"),
        observed_value=observed,
        message=("passed: " if gx_result.success and not error else "") + message,
    )


def skipped(suite: str, table: str, expectation: dict[str, Any], reason: str) -> CheckResult:
    kwargs = dict(expectation["kwargs"])
    meta = expectation.get("meta", {})
    return CheckResult(
        suite,
        table,
        expectation["type"],
        meta.get("check"),
        _column(kwargs),
        kwargs,
        str(meta.get("severity")),
        None,
        None,
        None,
        None,
        None,
        f"not evaluated: {reason}",
    )


_COLUMNS = (
    "run_id",
    "stage",
    "suite_name",
    "table_name",
    "batch_key",
    "expectation_type",
    "check_kind",
    "column_name",
    "kwargs",
    "severity",
    "success",
    "unexpected_count",
    "element_count",
    "unexpected_percent",
    "observed_value",
    "message",
    "validated_at",
)


def store(
    cur: Any, run_id: str, stage: str, batch_key: str, validated_at: datetime, results: list[CheckResult]
) -> int:
    """Insert one row per result into audit.data_quality_results; returns the number of rows."""
    rows = [
        (
            run_id,
            stage,
            r.suite,
            r.table,
            batch_key,
            r.expectation_type,
            r.check,
            r.column,
            to_json(r.kwargs),
            r.severity,
            r.success,
            r.unexpected_count,
            r.element_count,
            r.unexpected_percent,
            to_json(r.observed_value),
            r.message,
            validated_at,
        )
        for r in results
    ]
    execute_values(
        cur,
        f"insert into audit.data_quality_results ({', '.join(_COLUMNS)}) values %s",  # noqa: S608 - fixed names
        rows,
    )
    return len(rows)
