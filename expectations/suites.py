"""Load the versioned JSON suites and fill in their run-time values.

A suite is `suites/<schema>.<table>.json`: `name`, `meta` (table, stage, scope) and `expectations`
(`type`, `kwargs`, `meta.severity` = critical | warning, `meta.check` = the kind of check). Two
placeholders are filled in before GX sees the suite, from values computed for the run
(`expectations.parameters`): a kwarg value `{"$param": "name"}`, and `{{name}}` inside SQL text.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SEVERITIES = ("critical", "warning")
STAGES = ("raw_crm", "raw_finance", "features", "ratings")
_TEMPLATE = re.compile(r"\{\{(\w+)\}\}")


class SuiteError(ValueError):
    """A suite file is malformed or refers to a value the run did not provide."""


@dataclass(frozen=True)
class SuiteSpec:
    """One suite file: the table it checks and how a run scopes its batch."""

    name: str
    table: str
    stage: str
    scope: str  # "interval" (raw batches) or "as_of_date" (snapshots, ratings)
    data: dict[str, Any]


def load_suite(path: Path) -> SuiteSpec:
    """Read and check one suite file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    meta = data.get("meta") or {}
    for key in ("table", "stage", "scope"):
        if key not in meta:
            raise SuiteError(f"{path.name}: meta.{key} is missing")
    if meta["stage"] not in STAGES:
        raise SuiteError(f"{path.name}: unknown stage {meta['stage']!r}")
    for i, exp in enumerate(data.get("expectations", [])):
        severity = (exp.get("meta") or {}).get("severity")
        if severity not in SEVERITIES:
            raise SuiteError(f"{path.name}: expectation {i} ({exp.get('type')}) has severity {severity!r}")
    return SuiteSpec(data["name"], meta["table"], meta["stage"], meta["scope"], data)


def suites_for_stage(stage: str, directory: Path = SUITES_DIR) -> list[SuiteSpec]:
    """All suites a stage runs, in file-name order."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    specs = [load_suite(p) for p in sorted(directory.glob("*.json"))]
    return [s for s in specs if s.stage == stage]


def _resolve(value: Any, params: dict[str, Any], suite: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$param"}:
            name = value["$param"]
            if name not in params:
                raise SuiteError(f"suite {suite}: no run-time value for $param {name!r}")
            return params[name]
        return {k: _resolve(v, params, suite) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, params, suite) for v in value]
    if isinstance(value, str) and "{{" in value:

        def template(match: re.Match[str]) -> str:
            if match.group(1) not in params:
                raise SuiteError(f"suite {suite}: no run-time value for {{{{{match.group(1)}}}}}")
            return str(params[match.group(1)])

        return _TEMPLATE.sub(template, value)
    return value


def _has_bounds(exp: dict[str, Any]) -> bool:
    """GX refuses a *_to_be_between expectation whose min and max are both None."""
    kwargs = exp["kwargs"]
    if "quantile_ranges" in kwargs:
        return kwargs["quantile_ranges"] is not None
    if "min_value" in kwargs or "max_value" in kwargs:
        return kwargs.get("min_value") is not None or kwargs.get("max_value") is not None
    return True


def resolved_expectations(spec: SuiteSpec, params: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """The suite's expectations with run-time values filled in, as GX expectation dicts.

    Returns (expectations to run, expectations skipped because the run has no bound for them, e.g. a
    volume check without a previous batch). Each expectation's GX `severity` mirrors `meta.severity`.
    """
    run: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for exp in spec.data["expectations"]:
        resolved = _resolve(copy.deepcopy(exp), params, spec.name)
        resolved["severity"] = resolved["meta"]["severity"]
        (run if _has_bounds(resolved) else skipped).append(resolved)
    return run, skipped
