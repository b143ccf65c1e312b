"""Benchmark: simulator time, then extraction + load rows/s next to a bare COPY of the same rows.

    python -m bench.bench_ingest --customers 100000            # 24 months of history
    python -m bench.bench_ingest --customers 1000000 --keep    # keep the databases afterwards

Uses three fresh databases (<--db-prefix>_crm / _finance / _warehouse, default prefix bench_ingest) on
the server of TEST_WAREHOUSE_URL, else 127.0.0.1:5432, else the embedded one; pass your own prefix when
someone else may be benchmarking on the same server. The pipeline runs first and the bare COPY second,
so the baselines get the warmer cache: the ratios are if anything pessimistic for the pipeline. Two
baselines, both CSV as PostgreSQL writes it: the source columns into an unindexed table, and the same
rows as raw holds them (batch columns included) into a table shaped like raw, indexes included. The
pipeline itself sends rows in canonical form as binary COPY (ingest.pgbinary). The last thing printed
is the JSON summary, including the pipeline's seconds per step (`pipeline_phases`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

from psycopg2 import sql

from common.migrate import migrate
from common.warehouse import connect
from devtools.scratch import create_database, drop_database, server_url
from devtools.simulator import simulate
from ingest.extract import extract_interval
from ingest.sources import BATCH_COLUMNS, load_sources

HISTORY = dt.date(2000, 1, 1)


def _bare_copy(urls: dict[str, str], end: dt.datetime, raw_shaped: bool) -> dict[str, tuple[int, float]]:
    """COPY TO STDOUT from each source table into COPY FROM STDIN of a warehouse table, no checks.

    raw_shaped=False: source columns into a table without indexes (the strictest baseline).
    raw_shaped=True: the rows as raw holds them (plus the four batch columns as constants) into a table
    shaped like the raw one, indexes included.
    """
    out = {}
    schema = "bench_raw_copy" if raw_shaped else "bench_copy"
    sources = load_sources()
    wh = connect(urls["warehouse"])
    with wh, wh.cursor() as wcur:
        wcur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        for name in ("crm", "finance"):
            source = sources[name]
            src = connect(urls[name])
            for spec in source.tables:
                target = sql.Identifier(schema, f"{name}_{spec.name}")
                cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
                select = cols
                target_cols = cols
                if raw_shaped:
                    select = sql.SQL("{}, {}, now(), {}, {}").format(
                        cols, sql.Literal(f"{spec.qualified}/bench"), sql.Literal(HISTORY), sql.Literal(end))
                    target_cols = sql.SQL(", ").join(map(sql.Identifier, [*spec.columns, *BATCH_COLUMNS]))
                wcur.execute(sql.SQL("create table {} (like {} {})").format(
                    target, sql.Identifier(spec.raw_schema, spec.name),
                    sql.SQL("including indexes" if raw_shaped else "")))
                if not raw_shaped:  # the baseline holds the source columns only
                    wcur.execute(sql.SQL("alter table {} {}").format(target, sql.SQL(", ").join(
                        sql.SQL("drop column {}").format(sql.Identifier(c)) for c in BATCH_COLUMNS)))
                began = time.monotonic()
                with tempfile.TemporaryFile() as spool, src.cursor() as scur:
                    scur.execute("set timezone = 'UTC'")
                    query = scur.mogrify(sql.SQL(
                        "COPY (SELECT {} FROM {} WHERE {} >= %s AND {} < %s) TO STDOUT WITH (FORMAT csv)").format(
                        select, sql.Identifier(source.schema, spec.name), sql.Identifier(spec.watermark),
                        sql.Identifier(spec.watermark)), (HISTORY, end)).decode()
                    scur.copy_expert(query, spool)
                    spool.seek(0)
                    wcur.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
                        target, target_cols).as_string(wcur), spool)
                wh.commit()
                wcur.execute(sql.SQL("select count(*) from {}").format(target))
                out[spec.qualified] = (wcur.fetchone()[0], time.monotonic() - began)
            src.close()
    wh.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--db-prefix", default="bench_ingest",
                        help="names of the three databases: <prefix>_crm, _finance, _warehouse (replaced)")
    args = parser.parse_args()
    start = dt.date.fromisoformat(args.start)
    end = start + dt.timedelta(days=round(args.months * 30.44) - 1)
    admin = server_url()
    names = {role: f"{args.db_prefix}_{role}" for role in ("crm", "finance", "warehouse")}
    urls = {role: create_database(admin, name, replace=True) for role, name in names.items()}
    os.environ.pop("WAREHOUSE_URL", None)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = urls["warehouse"]
    os.environ["AIRFLOW_CONN_CRM_SOURCE"] = urls["crm"]
    os.environ["AIRFLOW_CONN_FINANCE_SOURCE"] = urls["finance"]
    migrate(urls["warehouse"])

    print(f"== simulate {args.customers:,} customers, {start} .. {end}", flush=True)
    began = time.monotonic()
    written = simulate(args.customers, start, end, seed=args.seed, dirty_rate=0.001)
    sim_seconds = time.monotonic() - began
    interval_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    print("== pipeline: extract + validate + COPY + set rules + audit (one batch per table)", flush=True)
    pipeline = {}
    phases: dict[str, float] = {}
    for source in ("crm", "finance"):
        for result in extract_interval(source, HISTORY, interval_end):
            pipeline[result.source_table] = (result.extracted, result.seconds)
            for phase, seconds in result.phases.items():
                phases[phase] = phases.get(phase, 0.0) + seconds

    print("== bare COPY of the same rows (source COPY TO -> warehouse COPY FROM, no checks)", flush=True)
    bare = _bare_copy(urls, interval_end, raw_shaped=False)
    bare_raw = _bare_copy(urls, interval_end, raw_shaped=True)

    print(f"\n{'table':<24}{'rows':>11}{'pipeline/s':>12}{'bare/s':>10}{'ratio':>7}{'bare raw/s':>12}{'ratio':>7}")
    for table, (rows, seconds) in pipeline.items():
        (b_rows, b_seconds), (r_rows, r_seconds) = bare[table], bare_raw[table]
        assert b_rows == r_rows == rows, f"{table}: bare COPY moved {b_rows}/{r_rows} rows, pipeline {rows}"
        print(f"{table:<24}{rows:>11,}{rows / seconds:>12,.0f}{rows / b_seconds:>10,.0f}{b_seconds / seconds:>7.2f}"
              f"{rows / r_seconds:>12,.0f}{r_seconds / seconds:>7.2f}")
    total_rows = sum(r for r, _ in pipeline.values())
    p_seconds = sum(s for _, s in pipeline.values())
    b_seconds = sum(s for _, s in bare.values())
    r_seconds = sum(s for _, s in bare_raw.values())
    summary = {
        "customers": args.customers, "months": args.months, "rows": total_rows,
        "simulate_seconds": round(sim_seconds, 1), "simulate_rows_per_s": round(sum(written.values()) / sim_seconds),
        "pipeline_seconds": round(p_seconds, 1), "pipeline_rows_per_s": round(total_rows / p_seconds),
        "bare_copy_seconds": round(b_seconds, 1), "bare_copy_rows_per_s": round(total_rows / b_seconds),
        "ratio_vs_bare_copy": round(b_seconds / p_seconds, 2),
        "bare_raw_copy_seconds": round(r_seconds, 1), "bare_raw_copy_rows_per_s": round(total_rows / r_seconds),
        "ratio_vs_bare_raw_copy": round(r_seconds / p_seconds, 2),
        # seconds per step summed over the batches: the transaction's steps (setup, wait, copy, quarantine,
        # duplicates_move, indexes, audit) add up to the pipeline time; the worker's (source, validate,
        # references, serialise, duplicates_find) overlap them
        "pipeline_phases": {k: round(v, 1) for k, v in sorted(phases.items(), key=lambda kv: -kv[1])},
    }
    print(f"{'total':<24}{total_rows:>11,}{summary['pipeline_rows_per_s']:>12,}{summary['bare_copy_rows_per_s']:>10,}"
          f"{summary['ratio_vs_bare_copy']:>7.2f}{summary['bare_raw_copy_rows_per_s']:>12,}"
          f"{summary['ratio_vs_bare_raw_copy']:>7.2f}")
    print(f"simulator: {summary['simulate_seconds']}s for {sum(written.values()):,} rows")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / f"bench_ingest_{args.customers}.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2), flush=True)  # the last JSON document: what bench/run_all.py reads
    if not args.keep:
        for name in names.values():
            drop_database(admin, name)


if __name__ == "__main__":
    main()
