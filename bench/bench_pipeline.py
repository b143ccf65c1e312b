"""Benchmark: the whole pipeline end to end on a simulated book, stage by stage, next to its baselines.

    python -m bench.bench_pipeline --customers 1000000 --backfill-days 1  # the scale target
    python -m bench.bench_pipeline --customers 100000 --backfill-days 30  # quick size + a 30-day backfill

Stages, each timed with the peak resident memory of this process and its children (dbt runs in this
process; the PostgreSQL server's memory is bounded by its own settings and not included):
  simulate        the two source systems, `--months` of history ending on the last simulated day
  initial load    extraction of everything before the first daily interval, next to a bare COPY of
                  the same rows (source COPY TO -> warehouse COPY FROM, no checks)
  feature history the dbt history build (month ends + recent days) and the labels
  training        the training DAG's work: training set, candidates, registry, promotion gate
  daily run       one daily interval end to end, as the DAG runs it: extract crm + finance -> raw
                  gates -> dbt -> feature gate -> champion -> score + ratings gate + publish -> alert;
                  then the feature build again next to a plain pandas build of the same features
  backfill        `--backfill-days` more daily runs in order (the smaller size)
  storage         what one more day of history adds to each warehouse schema (the last daily run;
                  intermediate tables are rebuilt by every run and not counted)

Daily runs on databases that are already loaded (e.g. kept by `python -m bench.bench_ingest --keep`):

    python -m ingest.simulate --customers 1000000 --start 2024-01-01 --end 2026-01-01   # one day further
    python -m bench.bench_pipeline --existing bench_ingest --mlflow-uri sqlite:///<store with a @champion>

runs the daily run(s) for the days after the loaded raw data (the first dbt run builds the staging
tables from raw: measured as its own stage), with the champion of the given MLflow store.

The databases (bench_pipe_<n>_crm / _finance / _warehouse) are created fresh on the server of
TEST_WAREHOUSE_URL, else 127.0.0.1:5432, else the embedded one, and dropped unless --keep. The
training uses the model config with `split.warmup_months` set to `--warmup-months` (default 2): 24
months of history leave 11 labelled month ends, too few for the production warm-up of 12 months.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.memory import PeakRss
from common.config import config_dir
from common.migrate import migrate
from common.warehouse import transaction
from devtools.scratch import create_database, drop_database, server_url

HISTORY = dt.date(2000, 1, 1)
SCHEMAS = ["raw_crm", "raw_finance", "quarantine", "staging", "snapshots", "intermediate", "marts", "ratings",
           "audit"]


class Stages:
    """Runs named stages, prints progress, and keeps wall time, rows/s and peak memory of each."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def run(self, name: str, fn: Callable[[], Any], rows: Callable[[Any], int] | None = None) -> Any:
        print(f"== {name}", flush=True)
        with PeakRss(children=True, interval=0.2) as memory:
            began = time.monotonic()
            result = fn()
            seconds = time.monotonic() - began
        row: dict[str, Any] = {"stage": name, "seconds": round(seconds, 1), "peak_rss_mib": memory.peak_mib}
        if rows is not None:
            row["rows"] = int(rows(result))
            row["rows_per_s"] = round(row["rows"] / seconds) if seconds else None
        self.rows.append(row)
        rate = f", {row['rows']:,} rows ({row['rows_per_s']:,}/s)" if rows is not None else ""
        print(f"   {seconds:.1f}s, peak {row['peak_rss_mib']:,} MiB{rate}", flush=True)
        return result


def schema_sizes(url: str) -> dict[str, int]:
    """Bytes on disk per warehouse schema (tables, indexes, TOAST)."""
    with transaction(url) as cur:
        cur.execute("""
            select n.nspname, coalesce(sum(pg_total_relation_size(c.oid)), 0)
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where c.relkind in ('r', 'm', 'p') and n.nspname = any(%s)
            group by n.nspname""", (SCHEMAS,))
        found = dict(cur.fetchall())
    return {s: int(found.get(s, 0)) for s in SCHEMAS}


def _model_config(warmup_months: int) -> Path:
    """A copy of the config folder with the training warm-up shortened for a 24-month history."""
    folder = Path(tempfile.mkdtemp(prefix="bench-config-"))
    shutil.copytree(config_dir(), folder, dirs_exist_ok=True)
    model = yaml.safe_load((folder / "model.yml").read_text())
    model["split"]["warmup_months"] = warmup_months
    (folder / "model.yml").write_text(yaml.safe_dump(model, sort_keys=False))
    return folder


def daily_run(day: dt.date, stages: Stages, label: str) -> dict[str, float]:
    """One daily interval [day, day + 1) through the daily DAG's task functions, in the DAG's order."""
    from pipeline import daily

    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    run_id = f"bench__{day.isoformat()}"
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("prepare_warehouse", lambda: daily.prepare_warehouse()),
        ("extract_crm", lambda: daily.extract("crm", start, end, run_id)),
        ("extract_finance", lambda: daily.extract("finance", start, end, run_id)),
        ("gate_raw", lambda: [daily.gate(s, run_id, start, end) for s in ("raw_crm", "raw_finance")]),
        ("build_features", lambda: daily.build_features(day, run_id)),
        ("gate_features", lambda: daily.gate("features", run_id, start, end)),
        ("check_champion", lambda: daily.check_champion(day, run_id)),
        ("score_and_publish", lambda: daily.score(day, run_id)),
        ("alert_critical_warnings", lambda: daily.alert(day, run_id)),
    ]
    seconds = {}
    for name, fn in steps:
        began = time.monotonic()
        fn()
        seconds[name] = round(time.monotonic() - began, 1)
    print(f"   {label} {day}: " + ", ".join(f"{k} {v}s" for k, v in seconds.items()), flush=True)
    return seconds


def _raw_rows(url: str, since: dt.date) -> int:
    with transaction(url) as cur:
        cur.execute("select coalesce(sum(loaded), 0) from audit.batch_counts where interval_start >= %s", (since,))
        return int(cur.fetchone()[0])


def _feature_rows(url: str, day: dt.date) -> int:
    with transaction(url) as cur:
        cur.execute("select count(*) from marts.customer_features where as_of_date = %s", (day,))
        return int(cur.fetchone()[0])


def main() -> None:  # noqa: PLR0915 - one linear script of stages
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1))
    parser.add_argument("--backfill-days", type=int, default=0, help="daily runs after the first one")
    parser.add_argument("--warmup-months", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-baselines", action="store_true", help="no bare COPY / pandas comparison")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the MLflow store")
    parser.add_argument("--existing", metavar="PREFIX",
                        help="daily runs only, on the loaded databases PREFIX_crm / _finance / _warehouse")
    parser.add_argument("--mlflow-uri", help="with --existing: the MLflow store holding a @champion")
    parser.add_argument("--first-day", type=dt.date.fromisoformat,
                        help="with --existing: rerun from this day (default: the day after the loaded data)")
    args = parser.parse_args()
    if args.existing:
        existing_daily_runs(args)
        return

    # the last simulated day is rated by the last daily run; everything before the first daily day is
    # the initial load
    end = args.start + dt.timedelta(days=round(args.months * 30.44) - 1)
    first_day = end - dt.timedelta(days=args.backfill_days)
    admin = server_url()
    prefix = f"bench_pipe_{args.customers}"
    names = {role: f"{prefix}_{role}" for role in ("crm", "finance", "warehouse")}
    urls = {role: create_database(admin, name, replace=True) for role, name in names.items()}
    state = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    os.environ.pop("WAREHOUSE_URL", None)
    os.environ.update({
        "AIRFLOW_CONN_WAREHOUSE": urls["warehouse"], "AIRFLOW_CONN_CRM_SOURCE": urls["crm"],
        "AIRFLOW_CONN_FINANCE_SOURCE": urls["finance"], "CRM_RISK_STATE_DIR": str(state),
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
        "CRM_RISK_CONFIG_DIR": str(_model_config(args.warmup_months)),
    })
    migrate(urls["warehouse"])
    print(f"databases {', '.join(names.values())}; state (MLflow store, dbt, data docs) in {state}", flush=True)
    stages = Stages()
    summary: dict[str, Any] = {"customers": args.customers, "months": args.months, "start": str(args.start),
                               "first_daily_day": str(first_day), "last_day": str(end),
                               "backfill_days": args.backfill_days}

    from devtools.simulator import simulate
    from ingest.extract import extract_interval

    # the sources as they stand on the eve of the first daily run; each daily run first advances them
    # by a day (a source holds the latest version of each row: simulating the end up front would hide
    # from the initial load every row that changes later)
    def advance_sources(day: dt.date) -> dict[str, int]:
        return simulate(args.customers, args.start, day, seed=args.seed, dirty_rate=0.001, verbose=False)

    written = stages.run(f"simulate {args.customers:,} customers, {args.start} .. {first_day - dt.timedelta(days=1)}",
                         lambda: advance_sources(first_day - dt.timedelta(days=1)), rows=lambda w: sum(w.values()))
    summary["source_rows"] = sum(written.values())

    load_end = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC)

    def initial_load() -> int:
        loaded = 0
        for source in ("crm", "finance"):
            loaded += sum(b.extracted for b in extract_interval(source, HISTORY, load_end, verbose=False))
        return loaded

    stages.run(f"initial load [{HISTORY}, {first_day})", initial_load, rows=lambda n: n)
    if not args.skip_baselines:
        from bench.bench_ingest import _bare_copy

        def bare() -> int:
            return sum(rows for rows, _ in _bare_copy(urls, load_end, raw_shaped=False).values())

        stages.run("baseline: bare COPY of the same rows", bare, rows=lambda n: n)
        summary["load_ratio_vs_bare_copy"] = round(stages.rows[-2]["rows_per_s"] / stages.rows[-1]["rows_per_s"], 2)
        with transaction(urls["warehouse"]) as cur:
            cur.execute("drop schema bench_copy cascade")

    from common.transform import build_history

    history_day = first_day - dt.timedelta(days=1)
    stages.run("feature history (dbt: month ends + 7 days, labels)", lambda: build_history(history_day),
               rows=lambda _: _count(urls["warehouse"], "marts.customer_features"))

    from ml.train import train_and_register

    trained = stages.run("training (training set, candidates, registry, gate)",
                         lambda: train_and_register(as_of_date=history_day))
    summary["training"] = {k: trained.get(k) for k in ("version", "chosen", "holdout_auc", "psi", "aliases")}
    if "champion" not in (trained.get("aliases") or []):
        # 24 months leave the first snapshots with short look-back windows, so the promotion gate may
        # refuse the first model (usually on PSI). The bench measures throughput: it promotes the version
        # as a model owner would override the gate, and says so.
        from ml import registry

        registry.promote(str(trained["version"]), reason="benchmark run: throughput, not model quality",
                         actor="bench_pipeline", force=True)
        summary["training"]["forced_promotion"] = (trained.get("gate") or {}).get("failures")
        print(f"   promotion gate refused version {trained['version']} "
              f"({summary['training']['forced_promotion']}): promoted with force for the benchmark", flush=True)

    storage: dict[str, dict[str, int]] = {}
    pipeline_seconds: list[float] = []

    def measured_daily_run(day: dt.date, label: str, advance: bool = True) -> dict[str, float]:
        """A daily run, with the storage it added (intermediate is rebuilt per run, not kept)."""
        if advance:
            advance_sources(day)  # the source systems' day, not the pipeline's
        before = schema_sizes(urls["warehouse"])
        began = time.monotonic()
        seconds = daily_run(day, stages, label)
        pipeline_seconds.append(time.monotonic() - began)
        after = schema_sizes(urls["warehouse"])
        storage["added"] = {s: after[s] - before[s] for s in SCHEMAS if s != "intermediate"}
        storage["total"] = after
        return seconds

    advance_sources(first_day)
    per_task = stages.run(f"daily run {first_day} (extract -> gates -> dbt -> score -> ratings -> warnings)",
                          lambda: measured_daily_run(first_day, "daily", advance=False),
                          rows=lambda _: _feature_rows(urls["warehouse"], first_day))
    summary["daily_run_seconds_by_task"] = per_task
    summary["decision_mix"] = _decision_mix(urls["warehouse"], first_day)
    after_history = storage["total"]

    if not args.skip_baselines:
        from bench.bench_features import compare_feature_builds

        summary["feature_build_vs_pandas"] = stages.run(
            "baseline: feature build, dbt vs plain pandas",
            lambda: compare_feature_builds(urls["warehouse"], first_day, runs=1))

    if args.backfill_days:
        days = [first_day + dt.timedelta(days=n) for n in range(1, args.backfill_days + 1)]

        def backfill() -> list[dict[str, float]]:
            return [measured_daily_run(day, f"backfill {i}/{len(days)}") for i, day in enumerate(days, 1)]

        runs = stages.run(f"backfill {days[0]} .. {days[-1]} ({len(days)} daily runs, sources advanced daily)",
                          backfill, rows=lambda _: _raw_rows(urls["warehouse"], days[0]))
        backfill_seconds = pipeline_seconds[-len(days):]
        summary["backfill_seconds_per_day"] = round(sum(backfill_seconds) / len(days), 1)
        summary["backfill_max_day_seconds"] = round(max(backfill_seconds), 1)
        summary["backfill_seconds_by_task"] = runs

        total = storage["total"]
        summary["storage_bytes_per_backfill_day"] = round(
            sum(total[s] - after_history[s] for s in SCHEMAS if s != "intermediate") / len(days))

    # one more day of history: what the last daily run added (the first one after the history build also
    # replaces the history build's intermediate tables and leaves no steady-state figure on its own)
    _finish(summary, storage, stages, f"bench_pipeline_{args.customers}.json")
    if not args.keep:
        for name in names.values():
            drop_database(admin, name)
        shutil.rmtree(state, ignore_errors=True)
    print(json.dumps(summary, default=str))


def existing_daily_runs(args: argparse.Namespace) -> None:
    """--existing: the daily run(s) after the loaded raw data of existing databases."""
    admin = server_url()
    base = admin.rsplit("/", 1)[0]
    urls = {role: f"{base}/{args.existing}_{role}" for role in ("crm", "finance", "warehouse")}
    state = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    os.environ.pop("WAREHOUSE_URL", None)
    os.environ.update({
        "AIRFLOW_CONN_WAREHOUSE": urls["warehouse"], "AIRFLOW_CONN_CRM_SOURCE": urls["crm"],
        "AIRFLOW_CONN_FINANCE_SOURCE": urls["finance"], "CRM_RISK_STATE_DIR": str(state),
        "MLFLOW_TRACKING_URI": args.mlflow_uri or f"sqlite:///{state / 'mlflow.db'}",
    })
    migrate(urls["warehouse"])
    with transaction(urls["warehouse"]) as cur:
        cur.execute("select max(interval_end)::date from audit.batch_counts")
        first_day = args.first_day or cur.fetchone()[0]
        cur.execute("select count(*) from raw_crm.accounts")
        accounts = int(cur.fetchone()[0])
    stages = Stages()
    summary: dict[str, Any] = {"existing": args.existing, "accounts_in_raw": accounts,
                               "first_daily_day": str(first_day), "backfill_days": args.backfill_days}
    print(f"databases {', '.join(urls)} of {args.existing}; first daily day {first_day}; state in {state}",
          flush=True)
    from common.transform import build_snapshot

    with transaction(urls["warehouse"]) as cur:
        cur.execute("select to_regclass('staging.stg_finance__invoice_history') is not null")
        staged = cur.fetchone()[0]
    if not staged:
        day = first_day - dt.timedelta(days=1)
        stages.run(f"initial feature build {day} (staging tables from all raw)", lambda: build_snapshot(day),
                   rows=lambda _: _feature_rows(urls["warehouse"], day))
    storage: dict[str, dict[str, int]] = {}
    days = [first_day + dt.timedelta(days=n) for n in range(args.backfill_days + 1)]
    for day in days:
        before = schema_sizes(urls["warehouse"])
        per_task = stages.run(f"daily run {day} (extract -> gates -> dbt -> score -> ratings -> warnings)",
                              lambda d=day: daily_run(d, stages, "daily"),
                              rows=lambda _, d=day: _feature_rows(urls["warehouse"], d))
        after = schema_sizes(urls["warehouse"])
        storage = {"added": {s: after[s] - before[s] for s in SCHEMAS if s != "intermediate"}, "total": after}
        summary.setdefault("daily_run_seconds_by_task", {})[str(day)] = per_task
    _finish(summary, storage, stages, f"bench_pipeline_{args.existing}.json")
    print(json.dumps(summary, default=str))


def _finish(summary: dict[str, Any], storage: dict[str, dict[str, int]], stages: Stages, filename: str) -> None:
    """Add the last daily run's storage and the stage rows to the summary, write it, print the table."""
    summary["storage_bytes_added_by_one_day"] = storage["added"]
    summary["storage_bytes_added_by_one_day_total"] = sum(storage["added"].values())
    summary["storage_bytes_total"] = sum(storage["total"].values())
    summary["storage_bytes_by_schema"] = storage["total"]
    summary["stages"] = stages.rows
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / filename).write_text(json.dumps(summary, indent=2, default=str))
    _print_table(summary)


def _decision_mix(url: str, day: dt.date) -> dict[str, dict[str, int]]:
    """The credit decisions per grade of a rated day, printed as a table (docs/ratings.md quotes it)."""
    from ratings.monitoring import decision_mix, format_decision_mix

    with transaction(url) as cur:
        mix = decision_mix(cur, day)
    print(f"   decisions by grade on {day}:", flush=True)
    print("\n".join(format_decision_mix(mix)), flush=True)
    return mix


def _count(url: str, table: str) -> int:
    with transaction(url) as cur:
        cur.execute(f"select count(*) from {table}")  # noqa: S608 - a constant table name
        return int(cur.fetchone()[0])


def _print_table(summary: dict[str, Any]) -> None:
    print(f"\n{'stage':<78}{'seconds':>9}{'rows/s':>11}{'peak MiB':>10}")
    for row in summary["stages"]:
        rate = f"{row['rows_per_s']:,}" if row.get("rows_per_s") else ""
        print(f"{row['stage'][:77]:<78}{row['seconds']:>9,.1f}{rate:>11}{row['peak_rss_mib']:>10,}")
    added = summary["storage_bytes_added_by_one_day"]
    print("\nstorage added by one daily run: " + ", ".join(f"{s} {b / 2**20:,.1f} MiB" for s, b in added.items() if b)
          + f"; total {summary['storage_bytes_added_by_one_day_total'] / 2**20:,.1f} MiB "
          f"(warehouse {summary['storage_bytes_total'] / 2**30:,.2f} GiB)")


if __name__ == "__main__":
    main()
