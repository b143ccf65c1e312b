"""Quality gates of the daily run: validate one stage's batch with GX, store every result, stop on critical.

    run_gate("raw_crm" | "raw_finance", interval_start=..., interval_end=...)  # the run's raw batches
    run_gate("features", as_of_date=D)                                       # marts.customer_features, D
    run_gate("ratings", as_of_date=D, table="ratings_stage.customer_ratings") # ratings before publishing

All checks run in the warehouse (GX on SQLAlchemy, a query asset per table scoped to the batch); every
result goes to audit.data_quality_results, the GX Data Docs site under <state>/gx/data_docs is updated,
and a failed critical expectation raises QualityGateFailed after the results are stored.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from psycopg2 import sql

from common.sql_identifiers import qualified
from common.warehouse import WAREHOUSE, connect, connection_url, one_row, transaction
from expectations import parameters, results
from expectations.suites import STAGES, SuiteSpec, resolved_expectations, suites_for_stage

log = logging.getLogger(__name__)


class QualityGateFailed(RuntimeError):
    """A critical expectation failed; the message names table, expectation and failing count of each."""

    def __init__(self, stage: str, batch_key: str, failures: list[results.CheckResult]) -> None:
        self.stage = stage
        self.batch_key = batch_key
        self.failures = failures
        lines = "\n".join(f"  - {f.headline()}" for f in failures)
        super().__init__(
            f"quality gate {stage!r} failed for batch {batch_key}: {len(failures)} critical "
            f"expectation(s) failed; nothing may be scored from this data:\n{lines}"
        )


@dataclass
class QualityGateResult:
    """Summary of a data quality gate run that passed (warnings allowed)."""

    stage: str
    run_id: str
    batch_key: str
    evaluated: int
    passed: int
    warnings: int
    critical: int
    not_evaluated: int
    tables: list[str] = field(default_factory=list)
    warning_messages: list[str] = field(default_factory=list)
    data_docs: str | None = None


@dataclass(frozen=True)
class _Target:
    spec: SuiteSpec
    table: str
    query: str
    params: dict[str, Any]


def _utc(value: datetime) -> datetime:
    """A plain aware UTC datetime (Airflow hands over pendulum objects; naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def _qualified(table: str) -> sql.Composed:
    schema, name = qualified(table, "quality gate table").split(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _scope_query(
    conn: Any,
    spec: SuiteSpec,
    table: str,
    as_of_date: date | None,
    interval: tuple[datetime, datetime] | None,
    batch_ids: list[str] | None,
    run_id: str | None,
) -> str:
    """SQL selecting this run's batch of a table (GX wraps it as the batch of a query asset)."""
    if spec.scope == "interval":
        assert interval is not None
        query = sql.SQL("select * from {t} where _interval_start >= {s} and _interval_end <= {e}").format(
            t=_qualified(table), s=sql.Literal(interval[0]), e=sql.Literal(interval[1])
        )
        if batch_ids:
            query = sql.SQL("{q} and _batch_id = any({ids})").format(
                q=query, ids=sql.Literal(list(batch_ids))
            )
    else:
        query = sql.SQL("select * from {t} where as_of_date = {d}").format(
            t=_qualified(table), d=sql.Literal(as_of_date)
        )
        if run_id and spec.stage == "ratings" and table != spec.table:
            # a staging table may hold rows of other attempts: validate this run's rows only
            query = sql.SQL("{q} and run_id = {r}").format(q=query, r=sql.Literal(run_id))
    return query.as_string(conn)


def _batch_key(
    stage: str,
    as_of_date: date | None,
    interval: tuple[datetime, datetime] | None,
    batch_ids: list[str] | None,
) -> str:
    if interval is not None:
        key = f"{interval[0].isoformat()}/{interval[1].isoformat()}"
        return key + (f" batches={','.join(sorted(batch_ids))}" if batch_ids else "")
    return str(as_of_date)


def _targets(
    stage: str,
    url: str,
    as_of_date: date | None,
    interval: tuple[datetime, datetime] | None,
    table: str | None,
    query: str | None,
    batch_ids: list[str] | None,
    run_id: str | None,
) -> tuple[list[_Target], list[str]]:
    """The suites of the stage with their scoped queries and run-time values; plus missing tables."""
    specs = suites_for_stage(stage)
    if (table or query) and len(specs) != 1:
        raise ValueError(f"table=/query= need a stage with one suite; {stage!r} has {len(specs)}")
    targets, missing = [], []
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for spec in specs:
                name = table or spec.table
                if query is None:
                    cur.execute("select to_regclass(%s)", (name,))
                    if one_row(cur)[0] is None:
                        missing.append(name)
                        continue
                scoped = query or _scope_query(conn, spec, name, as_of_date, interval, batch_ids, run_id)
                if spec.stage.startswith("raw"):
                    if interval is None:
                        raise ValueError(f"stage {spec.stage!r} needs a data interval")
                    params = parameters.raw_parameters(cur, name, *interval)
                elif spec.stage == "features":
                    if as_of_date is None:
                        raise ValueError("stage 'features' needs as_of_date")
                    params = parameters.feature_parameters(cur, name, as_of_date)
                else:
                    params = parameters.ratings_parameters()
                targets.append(_Target(spec, name, scoped, params))
        conn.rollback()
    finally:
        conn.close()
    return targets, missing


def _validate(url: str, run_id: str, targets: list[_Target]) -> tuple[list[results.CheckResult], str | None]:
    """Run every target's suite through one GX checkpoint; returns the results and the Data Docs index."""
    import great_expectations as gx

    from expectations.context import DOCS_SITE, data_docs_dir, make_context

    context = make_context()
    source = context.data_sources.add_postgres("warehouse", connection_string=url)
    checks: list[results.CheckResult] = []
    definitions = []
    by_suite: dict[str, _Target] = {}
    for target in targets:
        run, skipped = resolved_expectations(target.spec, target.params)
        checks += [
            results.skipped(
                target.spec.name,
                target.table,
                e,
                "no bound for this run (e.g. no previous batch to compare with)",
            )
            for e in skipped
        ]
        asset_name = target.spec.name.replace(".", "__")
        batch = source.add_query_asset(asset_name, query=target.query).add_batch_definition_whole_table(
            "batch"
        )
        suite = context.suites.add(
            gx.ExpectationSuite(name=target.spec.name, expectations=run, meta=target.spec.data.get("meta"))
        )
        definitions.append(
            context.validation_definitions.add(
                gx.ValidationDefinition(name=asset_name, data=batch, suite=suite)
            )
        )
        by_suite[target.spec.name] = target
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="gate", validation_definitions=definitions, result_format={"result_format": "SUMMARY"}
        )
    )
    outcome = checkpoint.run(run_id=gx.RunIdentifier(run_name=run_id))
    for suite_result in outcome.run_results.values():
        target = by_suite[suite_result.suite_name]
        checks += [results.from_gx(target.spec.name, target.table, r) for r in suite_result.results]
    docs = None
    try:
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=list(outcome.run_results))
        docs = str(data_docs_dir() / "index.html")
    except Exception as exc:  # noqa: BLE001 - the docs are a view; failing to render them must not hide results
        log.warning("GX Data Docs could not be built: %s", exc)
    return checks, docs


def run_gate(
    stage: str,
    *,
    as_of_date: date | None = None,
    interval_start: datetime | None = None,
    interval_end: datetime | None = None,
    url: str | None = None,
    run_id: str | None = None,
    table: str | None = None,
    query: str | None = None,
    batch_ids: list[str] | None = None,
) -> QualityGateResult:
    """Validate the stage's batch, store every result, raise QualityGateFailed on a critical failure.

    stage: raw_crm | raw_finance (needs interval_start/interval_end; batch_ids narrows to given batches),
    features | ratings (need as_of_date). table= validates another table with the same suite (a staging
    copy, scoped to as_of_date, and for ratings also to run_id when given); query= validates the rows a
    SELECT returns, as they are.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    interval = None
    if stage.startswith("raw"):
        if interval_start is None or interval_end is None:
            raise ValueError(f"stage {stage!r} needs interval_start and interval_end")
        interval = (_utc(interval_start), _utc(interval_end))
    elif as_of_date is None:
        raise ValueError(f"stage {stage!r} needs as_of_date")
    if as_of_date is not None:  # a plain date (not a datetime or a pendulum Date)
        as_of_date = date(as_of_date.year, as_of_date.month, as_of_date.day)
    url = url or connection_url(WAREHOUSE)
    started = datetime.now(UTC)
    batch_key = _batch_key(stage, as_of_date, interval, batch_ids)
    targets, missing = _targets(stage, url, as_of_date, interval, table, query, batch_ids, run_id)
    run_id = run_id or f"manual__{started.isoformat()}"
    checks = [
        results.CheckResult(
            spec_table,
            spec_table,
            "table_exists",
            "schema",
            None,
            {"table": spec_table},
            "critical",
            False,
            None,
            None,
            None,
            None,
            "table does not exist",
        )
        for spec_table in missing
    ]
    docs = None
    if targets:
        validated, docs = _validate(url, run_id, targets)
        checks += validated
    with transaction(url) as cur:
        results.store(cur, run_id, stage, batch_key, started, checks)

    critical = [c for c in checks if c.failed_critical]
    warnings = [c for c in checks if c.failed_warning]
    evaluated = [c for c in checks if c.success is not None]
    for check in warnings:
        log.warning("quality warning: %s", check.headline())
    if docs:
        log.info("GX Data Docs for %s %s: file://%s", stage, batch_key, docs)
    summary = QualityGateResult(
        stage=stage,
        run_id=run_id,
        batch_key=batch_key,
        evaluated=len(evaluated),
        passed=sum(1 for c in evaluated if c.success),
        warnings=len(warnings),
        critical=len(critical),
        not_evaluated=len(checks) - len(evaluated),
        tables=[t.table for t in targets] + missing,
        warning_messages=[c.headline() for c in warnings],
        data_docs=docs,
    )
    log.info(
        "quality gate %s %s: %d evaluated, %d passed, %d warnings, %d critical",
        stage,
        batch_key,
        summary.evaluated,
        summary.passed,
        summary.warnings,
        summary.critical,
    )
    if critical:
        for check in critical:
            log.error("critical quality failure: %s", check.headline())
        raise QualityGateFailed(stage, batch_key, critical)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one quality gate against the warehouse.")
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--as-of-date", type=date.fromisoformat)
    parser.add_argument("--interval-start", type=datetime.fromisoformat)
    parser.add_argument("--interval-end", type=datetime.fromisoformat)
    parser.add_argument("--table")
    parser.add_argument("--url")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    result = run_gate(
        args.stage,
        as_of_date=args.as_of_date,
        interval_start=args.interval_start,
        interval_end=args.interval_end,
        table=args.table,
        url=args.url,
    )
    print(result)


if __name__ == "__main__":
    main()
