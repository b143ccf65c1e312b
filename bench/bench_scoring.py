"""Benchmark: score and publish N customers for a date (rows/s and peak memory of the scoring task).

    python -m bench.bench_scoring --customers 1000000

Sets up a throw-away warehouse database (on TEST_WAREHOUSE_URL, else 127.0.0.1:5432, else the embedded
server), fills marts.customer_features with synthetic customers, trains and registers a real champion
in a temporary MLflow store (ml.train.train_and_register; --model champion uses the configured
store's @champion instead), then times ratings.publish.score_and_publish for --dates dates 30 days apart
(the second exercises the change rules and the warning episodes), then for --quiet-days quiet days: the
days after the last date, each snapshot repeating the day before except for --change-share of the customers.
Peak memory is the resident set size of this process sampled every 50 ms while publishing, minus the
resident size before.

Storage: for every date, the bytes the stored ratings grew by (ratings.customer_rating_versions and
ratings.rated_dates, pg_total_relation_size with indexes), the bytes the whole ratings schema grew by
(with the warning episodes, which are the stored warning observations), next to what the full daily
copy stored before the versions did (a table shaped like the old ratings.customer_ratings, with its key and date
index, filled with the date's rows). Reads: `where as_of_date = X`, one customer's history and
current_customer_ratings on the view, and the same reads on that full-copy table.

The last line printed is one JSON document with every figure (bench/run_all.py keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from bench.memory import PeakRss
from devtools.scratch import create_database, drop_database, server_url

SQL_TYPES = {"numeric": "double precision", "categorical": "text", "flag": "integer", "date": "date"}


def fill_features(url: str, customers: int, dates: list[date], chunk: int = 50_000) -> float:
    """Synthetic snapshot rows for each date, COPYed chunk by chunk; returns seconds spent."""
    from common.config import load_config
    from common.warehouse import copy_rows, transaction
    from devtools.synthetic import synthetic_frame

    spec = load_config("features")
    columns = ["customer_id", "as_of_date"] + [f["name"] for f in spec["features"]]
    ddl = ", ".join(f'"{f["name"]}" {SQL_TYPES[f["kind"]]}' for f in spec["features"])
    start = time.perf_counter()
    with transaction(url) as cur:
        cur.execute(f"create table marts.customer_features (customer_id text not null, as_of_date date not null,"
                    f" {ddl}, primary key (customer_id, as_of_date))")
    for k, d in enumerate(dates):
        for offset in range(0, customers, chunk):
            n = min(chunk, customers - offset)
            frame = synthetic_frame(n_customers=n, n_snapshots=1, seed=1000 * k + offset // chunk)
            frame["customer_id"] = [f"c{offset + i:07d}" for i in range(n)]
            frame["as_of_date"] = d
            with transaction(url) as cur:
                copy_rows(cur, "marts.customer_features", columns, frame)
    with transaction(url) as cur:
        cur.execute("analyze marts.customer_features")
    return time.perf_counter() - start


def quiet_day(url: str, source: date, target: date, share: float) -> int:
    """The snapshot of `target` = the one of `source`, with `share` of the customers' payment behaviour
    changed (a real day: most customers' features, hence ratings, stay the same). Returns rows changed."""
    from common.warehouse import transaction

    every = max(1, round(1 / share)) if share > 0 else 0
    with transaction(url) as cur:
        cur.execute("create temp table _day as select * from marts.customer_features where as_of_date = %s",
                    (source,))
        cur.execute("update _day set as_of_date = %s", (target,))
        changed = 0
        if every:
            cur.execute("update _day set dpd_current = coalesce(dpd_current, 0) + 45,"
                        " share_paid_late_12m = least(1, coalesce(share_paid_late_12m, 0) + 0.3)"
                        " where abs(hashtext(customer_id)) %% %s = 0", (every,))
            changed = cur.rowcount
        cur.execute("insert into marts.customer_features select * from _day")
        cur.execute("analyze marts.customer_features")
    return changed


OLD_TABLE = "bench_full_copy.customer_ratings"
_RATING_COLUMNS = ("customer_id, as_of_date, pd_12m, score, rating_grade, risk_segment, current_credit_limit,"
                   " recommended_credit_limit, decision, decision_rationale, reason_codes, model_name, model_version,"
                   " run_id, scored_at")


def storage_bytes(url: str) -> dict[str, int]:
    """Total bytes (heap, indexes, TOAST) of the stored ratings, of the whole ratings schema (versions,
    warning episodes, monitoring, ...) and of the full-copy table."""
    from common.warehouse import transaction

    with transaction(url) as cur:
        cur.execute("select pg_total_relation_size('ratings.customer_rating_versions')"
                    " + pg_total_relation_size('ratings.rated_dates'),"
                    " (select sum(pg_total_relation_size(c.oid)) from pg_class as c"
                    "  where c.relnamespace = 'ratings'::regnamespace and c.relkind in ('r', 'm')),"
                    " coalesce(pg_total_relation_size(to_regclass(%s)), 0)", (OLD_TABLE,))
        versions, schema, full = cur.fetchone()
    return {"versions": int(versions), "ratings_schema": int(schema), "full_copy": int(full)}


def copy_as_before(url: str, as_of_date: date) -> float:
    """Append the date's rows to a table shaped like the old customer_ratings (the full daily copy)."""
    from common.warehouse import transaction

    with transaction(url) as cur:
        cur.execute("select to_regclass(%s)", (OLD_TABLE,))
        if cur.fetchone()[0] is None:  # the old DDL: key (customer_id, as_of_date) and an as_of_date index
            cur.execute("create schema bench_full_copy")
            cur.execute(f"create table {OLD_TABLE} (like ratings_stage.customer_ratings including defaults,"
                        " primary key (customer_id, as_of_date))")
            cur.execute(f"create index on {OLD_TABLE} (as_of_date)")
        start = time.perf_counter()
        cur.execute(f"delete from {OLD_TABLE} where as_of_date = %s", (as_of_date,))
        cur.execute(f"insert into {OLD_TABLE} ({_RATING_COLUMNS}) select {_RATING_COLUMNS}"
                    " from ratings.customer_ratings where as_of_date = %s", (as_of_date,))
        seconds = time.perf_counter() - start
        cur.execute(f"analyze {OLD_TABLE}")
    return seconds


def vacuum(url: str) -> float:
    """VACUUM (ANALYZE) the versions, the warning episodes and the full-copy table; returns seconds."""
    from common.warehouse import connect

    conn = connect(url)
    conn.autocommit = True  # vacuum cannot run inside a transaction
    try:
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute("vacuum (analyze) ratings.customer_rating_versions, ratings.rated_dates, ratings.credit_warnings,"
                        f" ratings.model_monitoring, {OLD_TABLE}")
        return time.perf_counter() - start
    finally:
        conn.close()


def _timed(url: str, query: str, params: tuple = (), repeat: int = 3) -> dict:
    """Best wall time of `repeat` runs (the first warms the cache) and what the query returned."""
    from common.warehouse import transaction

    best, result = float("inf"), None
    for _ in range(repeat):
        with transaction(url) as cur:
            start = time.perf_counter()
            cur.execute(query, params)
            result = cur.fetchall()
            best = min(best, time.perf_counter() - start)
    return {"seconds": round(best, 3), "rows": len(result), "first": [str(v) for v in result[0]] if result else None}


def read_timings(url: str, as_of_date: date, latest: date, customer: str) -> dict:
    """Reads BI makes, on the view over the versions and on the full-copy table."""
    from common.warehouse import transaction

    date_query = ("select count(*), avg(pd_12m), max(decision_rationale), max(scored_at) from {t}"
                  " where as_of_date = %s")
    history = "select as_of_date, rating_grade, score, decision from {t} where customer_id = %s order by as_of_date"
    current = ("select count(*), max(as_of_date), avg(pd_12m), min(next_review_date) from ({q}) as c")
    current_old = (f"select r.*, s.review_frequency_months, (r.as_of_date + make_interval(months =>"
                   f" s.review_frequency_months))::date as next_review_date from (select distinct on (customer_id) *"
                   f" from {OLD_TABLE} order by customer_id, as_of_date desc) as r"
                   f" left join ratings.risk_segments as s on s.risk_segment = r.risk_segment")
    out = {
        "as_of_date_view": _timed(url, date_query.format(t="ratings.customer_ratings"), (as_of_date,)),
        "as_of_date_full_copy": _timed(url, date_query.format(t=OLD_TABLE), (as_of_date,)),
        "latest_date_view": _timed(url, date_query.format(t="ratings.customer_ratings"), (latest,)),
        "latest_date_full_copy": _timed(url, date_query.format(t=OLD_TABLE), (latest,)),
        "customer_history_view": _timed(url, history.format(t="ratings.customer_ratings"), (customer,)),
        "customer_history_full_copy": _timed(url, history.format(t=OLD_TABLE), (customer,)),
        "current_view": _timed(url, current.format(q="select * from ratings.current_customer_ratings")),
        "current_full_copy": _timed(url, current.format(q=current_old)),
    }
    with transaction(url) as cur:
        cur.execute("explain select * from ratings.customer_ratings where as_of_date = %s", (as_of_date,))
        plan = "\n".join(r[0] for r in cur.fetchall())
    out["as_of_date_view"]["uses_gist_index"] = "customer_rating_versions_validity_idx" in plan
    return out


def champion(kind: str):
    from ml.registry import load_champion

    if kind == "train":
        from devtools.synthetic import synthetic_frame
        from ml.train import train_and_register

        start = time.perf_counter()
        out = train_and_register(frame=synthetic_frame())
        print(f"trained and registered version {out['version']} ({out['chosen']}) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    return load_champion()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--dates", type=int, default=2, help="dates to rate, 30 days apart")
    parser.add_argument("--model", choices=["train", "champion"], default="train")
    parser.add_argument("--change-share", type=float, default=0.02,
                        help="share of customers whose snapshot changes on the quiet day")
    parser.add_argument("--quiet-days", type=int, default=1,
                        help="quiet days after the last date, each the day before's snapshot with --change-share"
                             " changed (with --vacuum, the second shows the steady state: the space the first"
                             " day's updates left is reused)")
    parser.add_argument("--vacuum", action="store_true",
                        help="vacuum (analyze) the ratings after each date, as autovacuum would in the day between"
                             " two publishes (bytes added are measured before it)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    if args.model == "train":
        os.environ.update(CRM_RISK_STATE_DIR=str(tmp / "state"), MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
                          MLFLOW_ARTIFACT_ROOT=str(tmp / "artifacts"))

    import ratings.publish
    from common.migrate import migrate
    from common.transform import build_bi_views
    from ratings.publish import score_and_publish

    # time the ratings step of the publish transaction (the versions update) apart from the rest
    versions_seconds: list[float] = []
    publish_versions = ratings.publish.publish_versions

    def timed_publish_versions(*args, **kwargs):
        start = time.perf_counter()
        try:
            return publish_versions(*args, **kwargs)
        finally:
            versions_seconds.append(time.perf_counter() - start)

    ratings.publish.publish_versions = timed_publish_versions

    admin = server_url()
    name = f"bench_ratings_{uuid.uuid4().hex[:8]}"
    url = create_database(admin, name)
    try:
        migrate(url)
        build_bi_views(url)  # ratings.current_customer_ratings and the other views BI reads (dbt)
        dates = [date(2026, 1, 31) + timedelta(days=30 * i) for i in range(args.dates)]
        print(f"{args.customers:,} customers x {len(dates)} date(s), chunk {args.chunk_size:,}", flush=True)
        print(f"synthetic snapshot loaded in {fill_features(url, args.customers, dates):.0f} s", flush=True)
        model = champion(args.model)
        print(f"model {model.name} v{model.version}", flush=True)
        quiet_days = [dates[-1] + timedelta(days=1 + i) for i in range(args.quiet_days)]
        for source, quiet in zip([dates[-1], *quiet_days], quiet_days, strict=False):
            start = time.perf_counter()
            redrawn = quiet_day(url, source, quiet, args.change_share)
            print(f"quiet day {quiet}: snapshot of {source} with {redrawn:,} customers changed"
                  f" ({time.perf_counter() - start:.0f} s)", flush=True)
        figures: dict = {"customers": args.customers, "chunk_size": args.chunk_size, "model_version": model.version,
                         "change_share": args.change_share, "vacuum_between_dates": args.vacuum, "dates": []}
        for d in [*dates, *quiet_days]:
            before = storage_bytes(url)
            marks: dict[str, float] = {}
            with PeakRss() as mem:
                start = time.perf_counter()
                result = score_and_publish(d, f"bench-{d}", url, champion=model, chunk_size=args.chunk_size,
                                           gate=lambda marks=marks, **kw: marks.setdefault("staged", time.perf_counter()))
                total = time.perf_counter() - start
            staged = marks["staged"] - start
            ratings_seconds = versions_seconds[-1]
            copy_seconds = copy_as_before(url, d)
            after = storage_bytes(url)
            added = {k: after[k] - before[k] for k in after}
            vacuum_seconds = vacuum(url) if args.vacuum else None
            print(
                f"{d}: {result.rows_scored:,} rows in {total:.1f} s = {result.rows_scored / total:,.0f} rows/s"
                f" (score+stage {staged:.1f} s = {result.rows_scored / staged:,.0f} rows/s,"
                f" publish transaction {total - staged:.1f} s);"
                f" peak RSS {mem.peak / 2**20:,.0f} MiB (+{(mem.peak - mem.base) / 2**20:,.0f} MiB over"
                f" {mem.base / 2**20:,.0f} MiB before); warnings opened {result.warnings_opened:,},"
                f" continued {result.warnings_continued:,}, resolved {result.warnings_resolved:,};"
                f" psi {result.psi:.3f}",
                flush=True,
            )
            print(
                f"    ratings step of the publish {ratings_seconds:.1f} s: ratings changed {result.ratings_changed:,},"
                f" versions added {result.versions_added:,};"
                f" ratings storage +{added['versions'] / 2**20:,.1f} MiB vs +{added['full_copy'] / 2**20:,.1f} MiB"
                f" for the full daily copy (its insert {copy_seconds:.1f} s); the ratings schema"
                f" +{added['ratings_schema'] / 2**20:,.1f} MiB with the warning episodes",
                flush=True,
            )
            figures["dates"].append({
                "as_of_date": d.isoformat(), "quiet_day": d in quiet_days, "rows": result.rows_scored,
                "seconds": round(total, 2), "rows_per_s": round(result.rows_scored / total),
                "score_stage_seconds": round(staged, 2), "publish_seconds": round(total - staged, 2),
                "publish_ratings_seconds": round(ratings_seconds, 2),
                "peak_rss_mib": round(mem.peak / 2**20), "rss_increase_mib": round((mem.peak - mem.base) / 2**20),
                "warnings_opened": result.warnings_opened, "warnings_continued": result.warnings_continued,
                "warnings_resolved": result.warnings_resolved, "psi": result.psi,
                "ratings_changed": result.ratings_changed, "versions_added": result.versions_added,
                "bytes_added_versions": added["versions"], "bytes_added_full_copy": added["full_copy"],
                "bytes_added_ratings_schema": added["ratings_schema"],
                "full_copy_insert_seconds": round(copy_seconds, 2),
                "vacuum_seconds": round(vacuum_seconds, 2) if vacuum_seconds is not None else None,
                "publish_ratings_vs_full_copy_insert": round(ratings_seconds / copy_seconds, 2) if copy_seconds else None,
            })
        figures["storage_bytes"] = storage_bytes(url)
        figures["reads"] = read_timings(url, dates[0], quiet_days[-1], "c0000123")
        for read, timing in figures["reads"].items():  # not `name`: the database's name, dropped below
            print(f"read {read}: {timing['seconds']:.3f} s ({timing['rows']} rows)", flush=True)
        print(json.dumps(figures), flush=True)
    finally:
        if not args.keep:
            drop_database(admin, name)


if __name__ == "__main__":
    main()
