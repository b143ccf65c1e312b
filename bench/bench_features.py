"""Benchmark: the dbt feature build next to a plain pandas implementation of the same features.

    python -m bench.bench_features --customers 100000                        # fresh databases, 24 months
    python -m bench.bench_features --warehouse-url URL --as-of 2025-12-30    # a warehouse with raw loaded

The product side is `common.transform.build_snapshot(D)`: dbt builds marts.customer_features for one
as-of date D from the raw tables (seeds, staging, intermediate tables, the mart, the labels
and the data tests of D, exactly as the daily DAG runs it). The baseline is what a team without the
product would write: `pd.read_sql` of every raw version loaded up to D, the point-in-time dedupe in
memory (the version of each row that stood at the end of D, created by D), groupby per account, the
same 35 features, and `DataFrame.to_sql` into bench_pandas.customer_features (with the COPY method
of the pandas documentation: 4x faster than its INSERTs).

With --customers the benchmark sets up the daily situation on fresh databases: the simulated history
up to the day before D is loaded as one batch and dbt builds D - 1 on it (the first build, which
creates the incremental staging history tables from all raw rows; reported as dbt_initial_build_*),
then the batch of day D is extracted as the daily DAG would, and both sides build D.

Each build runs in its own child process, `--runs` times per side (dbt first; the last run of each
side is reported, so both run on a warm cache). The parent samples every 0.2 s the resident memory of
the child's process tree (client) and of the PostgreSQL backends serving it (server: the backends whose
client port belongs to the tree, plus their parallel workers). Server RSS counts the shared buffers a
backend touched; USS is its private memory (sorts, hashes, caches): the total is client RSS + server
USS, sampled together. Afterwards both tables are compared column by column for D (join on
customer_id; numbers within 1e-6): any mismatch fails the benchmark (exit 1).

`compare_feature_builds(warehouse_url, as_of_date)` is the same comparison for other benchmarks.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import sqlalchemy as sa

from bench.memory import PeakRss, tree_rss
from common.config import load_config
from common.paths import DBT_PROJECT_DIR, REPO_ROOT
from common.pseudonym import pseudonym_key, pseudonymise
from common.warehouse import _normalise, connect

HISTORY = dt.date(2000, 1, 1)
PANDAS_TABLE = "bench_pandas.customer_features"
CHILD_MARK = "BENCH_FEATURES_CHILD "
TOLERANCE = 1.01e-6  # numbers are rounded to 6 decimals at most: equal within one unit of the 6th
SAMPLE_SECONDS = 0.2
MIN_AVAILABLE_BYTES = 1.5 * 2**30  # a build is stopped when the machine's available memory drops below
NOT_IMPLEMENTED: list[str] = []  # every feature of config/features.yml is implemented below


# --- the pandas baseline ----------------------------------------------------------------------------

# raw table -> (its key, the columns the features need); every table also brings its bookkeeping
RAW_TABLES = {
    "raw_crm.accounts": ("account_id", ["industry", "region", "size_band", "status"]),
    "raw_crm.activities": ("activity_id", ["account_id", "activity_at", "outcome"]),
    "raw_crm.tickets": ("ticket_id", ["account_id", "category", "severity", "opened_at", "closed_at"]),
    "raw_crm.opportunities": ("opportunity_id", ["account_id", "amount", "currency", "stage", "closed_at"]),
    "raw_finance.invoices": ("invoice_id", ["customer_id", "issue_date", "due_date", "amount", "currency",
                                            "status"]),
    "raw_finance.payments": ("payment_id", ["invoice_id", "payment_date", "amount", "currency"]),
    "raw_finance.credit_notes": ("credit_note_id", ["invoice_id", "customer_id", "issue_date", "amount",
                                                    "currency"]),
    "raw_finance.credit_limits": ("limit_id", ["customer_id", "credit_limit", "currency", "valid_from"]),
    "raw_finance.disputes": ("dispute_id", ["customer_id", "opened_date", "resolved_date", "amount",
                                            "currency", "status"]),
    "raw_finance.default_events": ("event_id", ["customer_id", "event_date"]),
    "raw_finance.bureau_ratings": ("rating_id", ["customer_id", "score", "rating_date"]),
}
DATE_COLUMNS = {"issue_date", "due_date", "payment_date", "valid_from", "opened_date", "resolved_date",
                "event_date", "rating_date"}
TIMESTAMP_COLUMNS = {"activity_at", "opened_at", "closed_at"}  # their UTC day is what counts
LOWER_CASE_COLUMNS = {"status", "outcome", "category", "stage"}


def utc_day(values: pd.Series) -> pd.Series:
    """The UTC calendar day of a timestamp column, as a naive midnight timestamp."""
    return pd.to_datetime(values, utc=True).dt.tz_localize(None).dt.normalize()


def months_before(day: pd.Timestamp, months: int) -> pd.Timestamp:
    return day - pd.DateOffset(months=months)  # clamps to the month end, as date - interval does


def in_window(dates: pd.Series, day: pd.Timestamp, months: int) -> pd.Series:
    """Dates in (day - months, day], the feature windows."""
    return (dates > months_before(day, months)) & (dates <= day)


def round_half_away(values: pd.Series, digits: int) -> pd.Series:
    """round() as PostgreSQL rounds numeric: halves away from zero (Python and numpy round to even)."""
    scale = 10.0 ** digits
    return np.sign(values) * np.floor(values.abs() * scale + 0.5 + 1e-9) / scale


def to_eur_cents(amount: pd.Series, currency: pd.Series, fx_micro: dict[str, int]) -> pd.Series:
    """Amount in EUR cents, rounded to the cent half away from zero like round(amount * rate, 2).

    Whole cents times rates in millionths are exact integers in float64 (below 2**53): no float drift.
    """
    rate = currency.fillna("EUR").str.upper().map(fx_micro).astype("float64")  # NaN: unknown currency
    product = (amount * 100).round() * rate
    return np.sign(product) * np.floor((product.abs() + 500_000) / 1_000_000)


def read_raw(engine: sa.Engine, table: str, day: pd.Timestamp, fx_micro: dict[str, int]) -> pd.DataFrame:
    """Every version of `table` loaded with updated_at up to the end of `day`, typed and sorted."""
    key, columns = RAW_TABLES[table]
    query = sa.text(f"select {', '.join([key, *columns])}, created_at, updated_at, _extracted_at "
                    f"from {table} where updated_at < :day_end")
    frame = pd.read_sql(query, engine, params={"day_end": (day + pd.Timedelta(days=1)).tz_localize("UTC").to_pydatetime()})
    for col in frame.columns:
        if col in DATE_COLUMNS:
            frame[col] = pd.to_datetime(frame[col])
        elif col in TIMESTAMP_COLUMNS:
            frame[col] = utc_day(frame[col])
        elif col in LOWER_CASE_COLUMNS:
            frame[col] = frame[col].str.lower()
    if "amount" in frame:
        frame["amount_cents"] = to_eur_cents(frame["amount"], frame["currency"], fx_micro)
    if "credit_limit" in frame:
        frame["credit_limit_cents"] = to_eur_cents(frame["credit_limit"], frame["currency"], fx_micro)
    frame["updated_day"] = utc_day(frame["updated_at"])
    frame["known_since"] = utc_day(frame["created_at"].fillna(frame["updated_at"]))
    # the versions of a row in the order they were written: the last one seen by a day is its version
    return frame.sort_values(["updated_at", "_extracted_at"], kind="stable").reset_index(drop=True)


def versions_at(history: pd.DataFrame, key: str, day: pd.Timestamp) -> pd.DataFrame:
    """The version of each row that stood at the end of `day`, if the row was created by then."""
    latest = history[history["updated_day"] <= day].drop_duplicates(key, keep="last")
    return latest[latest["known_since"] <= day]


def latest_effective(history: pd.DataFrame, key: str, effective: str, day: pd.Timestamp,
                     required: str | None = None) -> pd.DataFrame:
    """Per account: the version at `day` with the latest effective date on or before `day` (then the
    latest created_at, missing counting as latest, then the highest key), among the versions whose
    `required` column is filled (a version without it hides the older ones, it does not fall back)."""
    rows = versions_at(history, key, day)
    rows = rows[rows[effective] <= day]
    if required:
        rows = rows[rows[required].notna()]
    rows = rows.sort_values(["customer_id", effective, "created_at", key], na_position="last")
    return rows.drop_duplicates("customer_id", keep="last").set_index("customer_id")


def invoice_totals(raw: dict[str, pd.DataFrame], day: pd.Timestamp) -> pd.DataFrame:
    """Payment behaviour, exposure and trading activity per account as of `day`."""
    invoices = versions_at(raw["raw_finance.invoices"], "invoice_id", day)
    invoices = invoices[(invoices["issue_date"] <= day) & invoices["status"].notna()
                        & (invoices["status"] != "cancelled")]
    # a paid invoice unchanged for 12 months is outside every window
    invoices = invoices[~((invoices["status"] == "paid")
                          & (invoices["updated_day"] <= months_before(day, 12)))].copy()

    payments = versions_at(raw["raw_finance.payments"], "payment_id", day)
    payments = payments[payments["payment_date"] <= day]
    paid = payments.groupby("invoice_id").agg(paid_cents=("amount_cents", "sum"),
                                              last_payment_date=("payment_date", "max"))
    notes = versions_at(raw["raw_finance.credit_notes"], "credit_note_id", day)
    notes = notes[notes["issue_date"] <= day]
    credited = notes.groupby("invoice_id").agg(credited_cents=("amount_cents", "sum"),
                                               last_credit_note_date=("issue_date", "max"))
    inv = invoices.join(paid, on="invoice_id").join(credited, on="invoice_id")

    open_cents = (inv["amount_cents"] - inv["paid_cents"].fillna(0) - inv["credited_cents"].fillna(0))
    inv["open_cents"] = open_cents.clip(lower=0).fillna(0).where(inv["status"] != "paid", 0)
    settled = inv["open_cents"] == 0
    settled_date = inv[["last_payment_date", "last_credit_note_date"]].max(axis=1).where(settled)
    overdue = (inv["open_cents"] > 0) & (inv["due_date"] < day)
    inv["days_past_due"] = ((day - inv["due_date"]).dt.days).where(overdue, 0)
    days_late = (settled_date - inv["due_date"]).dt.days.clip(lower=0)
    days_late = days_late.where(settled_date.isna() | inv["due_date"].notna(), 0)  # no due date: 0
    inv["days_late"] = days_late.where(settled, inv["days_past_due"])
    unpaid_until = settled_date.where(settled, day)
    # settled long ago: drop (what still counts: open, or issued / due / settled in the last 12 months)
    recent = inv[["issue_date", "due_date"]].join(settled_date.rename("s")).max(axis=1) > months_before(day, 12)
    keep = ~settled | recent
    inv, settled, settled_date, unpaid_until = inv[keep], settled[keep], settled_date[keep], unpaid_until[keep]

    dpd_reached = (unpaid_until - inv["due_date"]).dt.days.clip(lower=0).fillna(0)
    due_12m = in_window(inv["due_date"], day, 12)
    paid_late = settled & (settled_date > inv["due_date"])
    per_invoice = pd.DataFrame({
        "account_id": inv["customer_id"],
        "dpd_current": inv["days_past_due"],
        "max_dpd_3m": dpd_reached.where(unpaid_until > months_before(day, 3)),
        "max_dpd_6m": dpd_reached.where(unpaid_until > months_before(day, 6)),
        "max_dpd_12m": dpd_reached.where(unpaid_until > months_before(day, 12)),
        "invoices_due_12m": due_12m,
        "invoices_due_late_12m": due_12m & (paid_late | (~settled & (inv["due_date"] < day))),
        "avg_days_late_12m": inv["days_late"].where(settled & in_window(settled_date, day, 12)),
        "open_cents": inv["open_cents"],
        "overdue_cents": inv["open_cents"].where(inv["due_date"] < day, 0),
        "invoice_count_3m": in_window(inv["issue_date"], day, 3),
        "invoice_count_12m": in_window(inv["issue_date"], day, 12),
        "invoice_cents_3m": inv["amount_cents"].where(in_window(inv["issue_date"], day, 3)),
        "invoice_cents_12m": inv["amount_cents"].where(in_window(inv["issue_date"], day, 12)),
    })
    totals = per_invoice.groupby("account_id").agg({
        "dpd_current": "max", "max_dpd_3m": "max", "max_dpd_6m": "max", "max_dpd_12m": "max",
        "invoices_due_12m": "sum", "invoices_due_late_12m": "sum", "avg_days_late_12m": "mean",
        "open_cents": "sum", "overdue_cents": "sum", "invoice_count_3m": "sum", "invoice_count_12m": "sum",
        "invoice_cents_3m": "sum", "invoice_cents_12m": "sum",
    })
    for col in ("max_dpd_3m", "max_dpd_6m", "max_dpd_12m"):
        totals[col] = totals[col].fillna(0)
    totals["avg_days_late_12m"] = round_half_away(totals["avg_days_late_12m"], 2)
    return totals


def limit_utilisation(open_cents: pd.Series, limit_cents: pd.Series) -> pd.Series:
    """Open receivables / credit limit; missing without a limit or with a limit of 0."""
    return open_cents.fillna(0) / limit_cents.where(limit_cents != 0)


def share(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return round_half_away(numerator / denominator.where(denominator != 0), 6)


def pandas_features(raw: dict[str, pd.DataFrame], day: pd.Timestamp, key: bytes) -> pd.DataFrame:
    """marts.customer_features for one day from the raw versions: one row per active account."""
    accounts = versions_at(raw["raw_crm.accounts"], "account_id", day)
    accounts = accounts[accounts["status"] == "active"].set_index("account_id")
    out = pd.DataFrame(index=accounts.index)
    out["customer_id"] = [pseudonymise(a, key) for a in accounts.index]
    out["as_of_date"] = day.date()

    # payment behaviour, exposure and trading activity, now and 3 months ago
    three_months_ago = months_before(day, 3)
    invoices = invoice_totals(raw, day).reindex(out.index)
    invoices_3m_ago = invoice_totals(raw, three_months_ago).reindex(out.index)
    limits = latest_effective(raw["raw_finance.credit_limits"], "limit_id", "valid_from", day).reindex(out.index)
    limits_3m_ago = latest_effective(raw["raw_finance.credit_limits"], "limit_id", "valid_from",
                                     three_months_ago).reindex(out.index)
    for col in ("dpd_current", "max_dpd_3m", "max_dpd_6m", "max_dpd_12m"):
        out[col] = invoices[col].fillna(0).astype("int64")
    out["share_paid_late_12m"] = share(invoices["invoices_due_late_12m"], invoices["invoices_due_12m"])
    out["avg_days_late_12m"] = invoices["avg_days_late_12m"]
    open_cents = invoices["open_cents"].fillna(0)
    out["overdue_share_of_balance"] = round_half_away(invoices["overdue_cents"] / open_cents, 6).where(
        open_cents > 0, 0.0)
    out["open_receivables"] = open_cents / 100
    out["credit_limit"] = limits["credit_limit_cents"] / 100
    utilisation = limit_utilisation(open_cents, limits["credit_limit_cents"])
    utilisation_3m_ago = limit_utilisation(invoices_3m_ago["open_cents"], limits_3m_ago["credit_limit_cents"])
    out["limit_utilisation"] = round_half_away(utilisation, 6)
    out["utilisation_trend_3m"] = round_half_away(utilisation - utilisation_3m_ago, 6)
    for months in (3, 12):
        out[f"invoice_count_{months}m"] = invoices[f"invoice_count_{months}m"].fillna(0).astype("int64")
        out[f"invoice_amount_{months}m"] = invoices[f"invoice_cents_{months}m"].fillna(0) / 100
    amount_12m = invoices["invoice_cents_12m"]
    trend = (invoices["invoice_cents_3m"] / 3.0) / (amount_12m / 12.0)
    out["invoice_amount_trend"] = round_half_away(trend, 6).where(amount_12m > 0)

    # disputes and credit notes
    disputes = versions_at(raw["raw_finance.disputes"], "dispute_id", day)
    disputes = disputes[disputes["opened_date"] <= day]
    still_open = (disputes["status"] == "open") & (disputes["resolved_date"].isna()
                                                   | (disputes["resolved_date"] > day))
    dispute_totals = pd.DataFrame({
        "account_id": disputes["customer_id"],
        "dispute_count_12m": in_window(disputes["opened_date"], day, 12),
        "open_dispute_cents": disputes["amount_cents"].where(still_open),
    }).groupby("account_id").sum().reindex(out.index)
    out["dispute_count_12m"] = dispute_totals["dispute_count_12m"].fillna(0).astype("int64")
    out["open_dispute_amount"] = dispute_totals["open_dispute_cents"].fillna(0) / 100
    notes = versions_at(raw["raw_finance.credit_notes"], "credit_note_id", day)
    notes = notes[in_window(notes["issue_date"], day, 12)]
    out["credit_note_amount_12m"] = notes.groupby("customer_id")["amount_cents"].sum().reindex(
        out.index).fillna(0) / 100

    # CRM engagement
    activities = versions_at(raw["raw_crm.activities"], "activity_id", day)
    activities = activities[activities["activity_at"] <= day]  # activity_at holds the UTC day here
    in_6m = in_window(activities["activity_at"], day, 6)
    activity_totals = pd.DataFrame({
        "account_id": activities["account_id"],
        "activity_count_3m": in_window(activities["activity_at"], day, 3),
        "activity_count_6m": in_6m,
        "negative_count_6m": in_6m & activities["outcome"].isin(["negative", "no_answer"]),
        "last_activity_date": activities["activity_at"],
    }).groupby("account_id").agg({"activity_count_3m": "sum", "activity_count_6m": "sum",
                                  "negative_count_6m": "sum", "last_activity_date": "max"}).reindex(out.index)
    out["activity_count_3m"] = activity_totals["activity_count_3m"].fillna(0).astype("int64")
    out["negative_outcome_share_6m"] = share(activity_totals["negative_count_6m"],
                                             activity_totals["activity_count_6m"])
    out["days_since_last_contact"] = (day - activity_totals["last_activity_date"]).dt.days.astype("Int64")

    # complaints and open tickets
    tickets = versions_at(raw["raw_crm.tickets"], "ticket_id", day)
    tickets = tickets[tickets["opened_at"] <= day]
    complaint = tickets["category"] == "complaint"
    ticket_totals = pd.DataFrame({
        "account_id": tickets["account_id"],
        "complaint_count_3m": complaint & in_window(tickets["opened_at"], day, 3),
        "complaint_count_12m": complaint & in_window(tickets["opened_at"], day, 12),
        "max_complaint_severity_6m": tickets["severity"].where(complaint & in_window(tickets["opened_at"], day, 6)),
        "open_ticket_count": tickets["closed_at"].isna() | (tickets["closed_at"] > day),
    }).groupby("account_id").agg({"complaint_count_3m": "sum", "complaint_count_12m": "sum",
                                  "max_complaint_severity_6m": "max", "open_ticket_count": "sum"})
    for col in ticket_totals.columns:
        out[col] = ticket_totals[col].reindex(out.index).fillna(0).astype("int64")

    # customer profile
    known = accounts["known_since"]
    out["tenure_months"] = ((day.year - known.dt.year) * 12 + (day.month - known.dt.month)
                            - (day.day < known.dt.day).astype(int))
    for col in ("industry", "region", "size_band"):
        out[col] = accounts[col]
    opportunities = versions_at(raw["raw_crm.opportunities"], "opportunity_id", day)
    won = opportunities[(opportunities["stage"] == "won") & in_window(opportunities["closed_at"], day, 12)]
    out["won_order_amount_12m"] = won.groupby("account_id")["amount_cents"].sum().reindex(
        out.index).fillna(0) / 100

    # external bureau: the latest score at D and at D - 6 months
    ratings = raw["raw_finance.bureau_ratings"]
    bureau = latest_effective(ratings, "rating_id", "rating_date", day, required="score")["score"]
    bureau = bureau.reindex(out.index)
    bureau_6m_ago = latest_effective(ratings, "rating_id", "rating_date", months_before(day, 6),
                                     required="score")["score"].reindex(out.index)
    out["bureau_score"] = bureau.astype("Int64")
    out["bureau_score_change_6m"] = (bureau - bureau_6m_ago).astype("Int64")

    # default status
    events = versions_at(raw["raw_finance.default_events"], "event_id", day)
    events = events[events["event_date"] <= day]
    default_totals = pd.DataFrame({
        "account_id": events["customer_id"],
        "in_default": in_window(events["event_date"], day, 12),
        "last_default_date": events["event_date"],
    }).groupby("account_id").agg({"in_default": "max", "last_default_date": "max"}).reindex(out.index)
    out["in_default"] = default_totals["in_default"].fillna(False).astype("int64")
    out["last_default_date"] = default_totals["last_default_date"].dt.date

    return out.reset_index(drop=True)[["customer_id", "as_of_date", *feature_names()]]


def feature_names() -> list[str]:
    return [f["name"] for f in load_config("features")["features"]]


def fx_rates_micro() -> dict[str, int]:
    """The dbt seed's EUR rates, in millionths."""
    rates = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "fx_rates.csv")
    return {c: round(r * 1_000_000) for c, r in zip(rates["currency"], rates["rate_to_eur"], strict=True)}


def copy_rows(table, conn, keys, data_iter) -> None:
    """to_sql method: COPY instead of INSERTs (the PostgreSQL recipe of the pandas documentation)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(data_iter)
    buffer.seek(0)
    columns = ", ".join(f'"{k}"' for k in keys)
    with conn.connection.cursor() as cur:
        cur.copy_expert(f"COPY {table.schema}.{table.name} ({columns}) FROM STDIN WITH CSV", buffer)


def run_pandas(url: str, day: dt.date) -> dict:
    """The baseline: read the raw versions up to D, compute the features, write them back for D."""
    engine = sa.create_engine(_normalise(url))
    ts = pd.Timestamp(day)
    key = pseudonym_key()  # the key dbt's macro uses in this process's environment
    began = time.monotonic()
    fx_micro = fx_rates_micro()
    raw = {table: read_raw(engine, table, ts, fx_micro) for table in RAW_TABLES}
    read_done = time.monotonic()
    features = pandas_features(raw, ts, key)
    raw_rows = sum(len(frame) for frame in raw.values())
    del raw
    compute_done = time.monotonic()
    schema, table = PANDAS_TABLE.split(".")
    with engine.begin() as conn:
        conn.execute(sa.text(f"create schema if not exists {schema}"))
        if sa.inspect(conn).has_table(table, schema=schema):
            conn.execute(sa.text(f"delete from {PANDAS_TABLE} where as_of_date = :d"), {"d": day})
        features.to_sql(table, conn, schema=schema, if_exists="append", index=False, method=copy_rows)
    done = time.monotonic()
    engine.dispose()
    return {"seconds": done - began, "rows": len(features), "raw_rows": raw_rows,
            "stages": {"read": round(read_done - began, 1), "compute": round(compute_done - read_done, 1),
                       "write": round(done - compute_done, 1)}}


def run_dbt_build(url: str, day: dt.date) -> dict:
    """The product: the daily dbt build of snapshot D, with dbt's own timing of its slowest nodes."""
    from common.paths import state_dir
    from common.transform import build_snapshot

    began = time.monotonic()
    build_snapshot(day, url)
    seconds = time.monotonic() - began
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from marts.customer_features where as_of_date = %s", (day,))
        rows = cur.fetchone()[0]
    conn.close()
    nodes, elapsed = {}, None
    results = state_dir() / "dbt" / "target" / "run_results.json"
    if results.exists():
        run_results = json.loads(results.read_text())
        elapsed = round(run_results["elapsed_time"], 1)
        for result in run_results["results"]:
            nodes[result["unique_id"].split(".")[-1]] = round(result["execution_time"], 1)
    slowest = dict(sorted(nodes.items(), key=lambda kv: -kv[1])[:8])
    return {"seconds": seconds, "rows": rows, "nodes": len(nodes), "elapsed": elapsed,
            "node_seconds": round(sum(nodes.values()), 1), "slowest_nodes": slowest}


# --- measurement ------------------------------------------------------------------------------------

def _server_backends(cur, ports: set[int]) -> list[int]:
    """Backend pids serving the given client ports, plus their parallel workers."""
    cur.execute("select pid, client_port, leader_pid from pg_stat_activity where datname = current_database()")
    rows = cur.fetchall()
    leaders = {pid for pid, port, _ in rows if port in ports}
    return [pid for pid, port, leader in rows if pid in leaders or leader in leaders]


def _client_ports(root: psutil.Process, pg_port: int) -> set[int]:
    """Local ports of the tree's TCP connections to the PostgreSQL server."""
    ports: set[int] = set()
    for proc in [root, *root.children(recursive=True)]:
        try:
            ports |= {c.laddr.port for c in proc.net_connections(kind="tcp") if c.raddr and c.raddr.port == pg_port}
        except psutil.Error:
            pass
    return ports


class BuildMemory(PeakRss):
    """The build's client tree RSS and the RSS / USS of the PostgreSQL backends serving it, sampled together."""

    def __init__(self, root: psutil.Process, cur, pg_port: int) -> None:
        super().__init__(root, children=True, interval=SAMPLE_SECONDS)
        self.cur, self.pg_port = cur, pg_port

    def measure(self) -> dict[str, int]:
        client = tree_rss(self.proc)
        try:
            ports = _client_ports(self.proc, self.pg_port)
        except psutil.Error:  # the build has ended
            ports = set()
        server_rss = server_uss = 0
        for pid in _server_backends(self.cur, ports):
            try:
                info = psutil.Process(pid).memory_full_info()
                server_rss += info.rss
                server_uss += info.uss
            except psutil.Error:
                pass
        return {"client_rss": client, "server_rss": server_rss, "server_uss": server_uss,
                "total": client + server_uss}


def _stop_tree(root: psutil.Process) -> None:
    """End the child and its children (by pid: only what this benchmark started)."""
    procs = [root, *root.children(recursive=True)]
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=30)


def run_side(side: str, url: str, day: dt.date, state: Path) -> dict:
    """One build in a child process; its timing, rows and peak client/server memory.

    A failed build raises, except when the child was stopped or killed for want of memory: then the
    result carries `error` (the figures of a baseline that does not fit are a result too).
    """
    cmd = [sys.executable, "-m", "bench.bench_features", "--child", side, "--warehouse-url", url,
           "--as-of", day.isoformat()]
    env = {**os.environ, "CRM_RISK_STATE_DIR": str(state)}  # dbt's target and logs stay private
    monitor = connect(url)
    monitor.autocommit = True
    pg_port = sa.make_url(_normalise(url)).port or 5432
    with tempfile.TemporaryFile("w+") as log, monitor.cursor() as cur:
        began = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        root = psutil.Process(proc.pid)
        stopped = None
        with BuildMemory(root, cur, pg_port) as memory:
            while proc.poll() is None:
                if psutil.virtual_memory().available < MIN_AVAILABLE_BYTES:  # shared machine: stop first
                    client = memory.last.get("client_rss", 0)
                    stopped = (f"stopped at {client / 2**20:,.0f} MiB client RSS: the machine had less than "
                               f"{MIN_AVAILABLE_BYTES / 2**30:.1f} GiB available")
                    _stop_tree(root)
                    proc.wait()
                    break
                time.sleep(SAMPLE_SECONDS)
        wall = time.monotonic() - began
        log.seek(0)
        output = log.read()
    monitor.close()
    mib = {f"peak_{name}_mib": round(value / 2**20) for name, value in memory.peaks.items()}
    if stopped or proc.returncode == -9:  # -9: the kernel's OOM killer
        return {"error": stopped or "killed (SIGKILL, out of memory?)", "process_seconds": round(wall, 1), **mib}
    if proc.returncode != 0:
        raise RuntimeError(f"{side} build failed (exit {proc.returncode}):\n" + "\n".join(output.splitlines()[-40:]))
    result = json.loads(next(line for line in reversed(output.splitlines())
                             if line.startswith(CHILD_MARK))[len(CHILD_MARK):])
    return {**result, "process_seconds": round(wall, 1), **mib}


def compare_tables(url: str, day: dt.date) -> dict:
    """Mismatches per feature between marts.customer_features and the pandas table for `day`."""
    kinds = {f["name"]: f["kind"] for f in load_config("features")["features"]}
    checks = []
    for name, kind in kinds.items():
        if name in NOT_IMPLEMENTED:
            continue
        if kind in ("numeric", "flag"):
            differs = (f"case when m.{name} is null or p.{name} is null then (m.{name} is null) <> (p.{name} is null) "
                       f"else abs(m.{name}::float8 - p.{name}::float8) > {TOLERANCE} end")
        else:
            differs = f"m.{name}::text is distinct from p.{name}::text"
        checks.append((name, differs))
    filters = ",\n".join(f"count(*) filter (where m.customer_id is not null and p.customer_id is not null "
                         f"and ({differs})) as {name}" for name, differs in checks)
    query = f"""
        with m as (select * from marts.customer_features where as_of_date = %(d)s),
             p as (select * from {PANDAS_TABLE} where as_of_date = %(d)s)
        select count(m.customer_id) as rows_dbt, count(p.customer_id) as rows_pandas,
               count(*) filter (where p.customer_id is null) as only_in_dbt,
               count(*) filter (where m.customer_id is null) as only_in_pandas,
               {filters}
        from m full join p on m.customer_id = p.customer_id"""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, {"d": day})
        names = [d.name for d in cur.description]
        counts = dict(zip(names, cur.fetchone(), strict=True))
        examples = {}
        for name, differs in checks:
            if counts[name]:
                cur.execute(f"with m as (select * from marts.customer_features where as_of_date = %(d)s), "
                            f"p as (select * from {PANDAS_TABLE} where as_of_date = %(d)s) "
                            f"select m.customer_id, m.{name}::text, p.{name}::text from m join p using (customer_id) "
                            f"where {differs} limit 3", {"d": day})
                examples[name] = cur.fetchall()
    conn.close()
    per_column = {name: counts[name] for name, _ in checks}
    return {"rows_dbt": counts["rows_dbt"], "rows_pandas": counts["rows_pandas"],
            "only_in_dbt": counts["only_in_dbt"], "only_in_pandas": counts["only_in_pandas"],
            "per_column": per_column, "examples": examples,
            "total": sum(per_column.values()) + counts["only_in_dbt"] + counts["only_in_pandas"]}


def _staging_kind(url: str) -> str:
    """What the staging history models are in the warehouse right now: table, view or absent."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select relkind from pg_class where oid = to_regclass('staging.stg_finance__invoice_history')")
        row = cur.fetchone()
    conn.close()
    return {"r": "table", "v": "view"}.get(row[0], row[0]) if row else "absent"


def _side_figures(side: str, run: dict, rows: int | None) -> dict:
    figures = {f"{side}_seconds": round(run["seconds"], 1) if "seconds" in run else None,
               f"{side}_rows_per_s": round(rows / run["seconds"]) if rows and "seconds" in run else None,
               f"{side}_peak_rss_mib_client": run["peak_client_rss_mib"],
               f"{side}_peak_rss_mib_server": run["peak_server_rss_mib"],
               f"{side}_peak_uss_mib_server": run["peak_server_uss_mib"],
               f"{side}_peak_mib_total": run["peak_total_mib"]}
    if "error" in run:
        figures[f"{side}_error"] = run["error"]
    return figures


def compare_feature_builds(warehouse_url: str, as_of_date: dt.date, runs: int = 2,
                           dbt_state_dir: str | Path | None = None) -> dict:
    """Build snapshot `as_of_date` with dbt (build_snapshot) and with the pandas baseline, each `runs`
    times in a child process (dbt first), and compare the two outputs column by column.

    Returns the figures of the last run of each side (warm cache when runs >= 2), every run's time,
    and the mismatches per feature (`mismatches`: total, 0 when equal; the caller decides what a
    mismatch means). Raises when a build fails; a side stopped for want of memory is reported in
    `<side>_error` instead, and then nothing is compared (`mismatches` None). The pandas table
    (bench_pandas.customer_features) is dropped afterwards unless the two outputs differ.
    dbt_state_dir: dbt's target folder (partial parse) across calls; default a temporary one.
    """
    state = Path(dbt_state_dir) if dbt_state_dir else Path(tempfile.mkdtemp(prefix="bench_features_state_"))
    staging = _staging_kind(warehouse_url)
    results: dict[str, list[dict]] = {"dbt": [], "pandas": []}
    try:
        for side in ("dbt", "pandas"):
            for n in range(1, runs + 1):
                result = run_side(side, warehouse_url, as_of_date, state)
                results[side].append(result)
                if "error" in result:
                    print(f"   {side} run {n}/{runs}: {result['error']}", flush=True)
                    break
                print(f"   {side} run {n}/{runs}: {result['seconds']:.1f}s, {result['rows']:,} rows, "
                      f"client peak {result['peak_client_rss_mib']:,} MiB, server peak "
                      f"{result['peak_server_rss_mib']:,} MiB RSS / {result['peak_server_uss_mib']:,} MiB USS",
                      flush=True)
    finally:
        if not dbt_state_dir:
            shutil.rmtree(state, ignore_errors=True)
    dbt_run, pandas_run = results["dbt"][-1], results["pandas"][-1]
    rows = dbt_run.get("rows")
    failed = "error" in dbt_run or "error" in pandas_run
    summary = {
        "as_of_date": as_of_date.isoformat(), "rows": rows, "raw_rows_up_to_as_of": pandas_run.get("raw_rows"),
        "measured": (f"run {runs} of {runs} per side, dbt first" if runs > 1
                     else "one run per side, dbt first (the pandas run gets the warmer cache)"),
        "dbt_staging_history_models_before": staging,
        **_side_figures("dbt", dbt_run, rows), **_side_figures("pandas", pandas_run, pandas_run.get("rows")),
    }
    if not failed:
        summary.update({
            "ratio_pandas_seconds_over_dbt": round(pandas_run["seconds"] / dbt_run["seconds"], 2),
            "ratio_pandas_memory_over_dbt": round(pandas_run["peak_total_mib"] / max(dbt_run["peak_total_mib"], 1), 2),
            "ratio_pandas_client_memory_over_dbt": round(
                pandas_run["peak_client_rss_mib"] / max(dbt_run["peak_client_rss_mib"], 1), 2),
        })
    summary.update({
        "dbt_runs_seconds": [round(r["seconds"], 1) for r in results["dbt"] if "seconds" in r],
        "pandas_runs_seconds": [round(r["seconds"], 1) for r in results["pandas"] if "seconds" in r],
        "pandas_stage_seconds": pandas_run.get("stages"),
        "dbt_nodes": dbt_run.get("nodes"), "dbt_elapsed_after_parse_seconds": dbt_run.get("elapsed"),
        "dbt_node_seconds_sum": dbt_run.get("node_seconds"), "dbt_slowest_nodes": dbt_run.get("slowest_nodes"),
        "features_not_implemented": NOT_IMPLEMENTED,
    })
    if failed:
        summary["mismatches"] = None
        return summary
    mismatches = compare_tables(warehouse_url, as_of_date)
    summary.update({
        "features_compared": len(mismatches["per_column"]),
        "rows_only_in_dbt": mismatches["only_in_dbt"], "rows_only_in_pandas": mismatches["only_in_pandas"],
        "mismatches": mismatches["total"], "mismatches_per_column": mismatches["per_column"],
    })
    if mismatches["examples"]:
        summary["mismatch_examples"] = {k: [list(r) for r in v] for k, v in mismatches["examples"].items()}
        summary["pandas_table_kept"] = PANDAS_TABLE  # to look into the differences
    else:  # equal: leave the warehouse as it was
        with connect(warehouse_url) as conn, conn.cursor() as cur:
            cur.execute(f"drop schema if exists {PANDAS_TABLE.split('.')[0]} cascade")
        conn.close()
    return summary


def print_report(summary: dict) -> None:
    print(f"\n{'side':<8}{'seconds':>9}{'rows/s':>10}{'client MiB':>12}{'server RSS':>12}{'server USS':>12}"
          f"{'total MiB':>11}")
    for side in ("dbt", "pandas"):
        if summary.get(f"{side}_error"):
            print(f"{side:<8}{summary[f'{side}_error']}")
            continue
        print(f"{side:<8}{summary[f'{side}_seconds']:>9}{summary[f'{side}_rows_per_s']:>10,}"
              f"{summary[f'{side}_peak_rss_mib_client']:>12,}{summary[f'{side}_peak_rss_mib_server']:>12,}"
              f"{summary[f'{side}_peak_uss_mib_server']:>12,}{summary[f'{side}_peak_mib_total']:>11,}")
    if summary["mismatches"] is None:
        print("no comparison: a side did not finish")
        return
    print(f"pandas / dbt: time {summary['ratio_pandas_seconds_over_dbt']}, "
          f"memory (client RSS + server USS) {summary['ratio_pandas_memory_over_dbt']}; {summary['measured']}; "
          f"staging history models before the first dbt run: {summary['dbt_staging_history_models_before']}")
    bad = {k: v for k, v in summary["mismatches_per_column"].items() if v}
    print(f"mismatches: {summary['mismatches']} ({summary['features_compared']} features compared, "
          f"rows only in dbt {summary['rows_only_in_dbt']}, only in pandas {summary['rows_only_in_pandas']})"
          + (f"; per column {bad}" if bad else ""))
    for name, rows in summary.get("mismatch_examples", {}).items():
        print(f"  {name}: (customer_id, dbt, pandas) {rows}")


# --- entry points -----------------------------------------------------------------------------------

def _extract(start: dt.date, end: dt.date) -> None:
    from ingest.extract import extract_interval

    for source in ("crm", "finance"):  # finance rows reference CRM accounts: CRM first
        extract_interval(source, start, end, verbose=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=2, help="builds per side; the last one is reported")
    parser.add_argument("--warehouse-url", help="an existing warehouse with raw loaded (no databases created)")
    parser.add_argument("--as-of", help="the snapshot date with --warehouse-url (YYYY-MM-DD)")
    parser.add_argument("--db-prefix", default="bench_features",
                        help="names of the fresh databases: <prefix>_crm / _finance / _warehouse")
    parser.add_argument("--keep", action="store_true", help="keep the fresh databases")
    parser.add_argument("--child", choices=["dbt", "pandas"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:  # one measured build, run by run_side
        day = dt.date.fromisoformat(args.as_of)
        result = (run_dbt_build if args.child == "dbt" else run_pandas)(args.warehouse_url, day)
        print(CHILD_MARK + json.dumps(result), flush=True)
        return

    if args.warehouse_url:
        if not args.as_of:
            parser.error("--warehouse-url needs --as-of")
        summary = {"customers": None, **compare_feature_builds(args.warehouse_url, dt.date.fromisoformat(args.as_of),
                                                               runs=args.runs)}
    else:
        summary = {"customers": args.customers, **fresh_run(args)}
    print_report(summary)
    if summary["customers"]:
        results = Path(__file__).resolve().parent / "results"
        results.mkdir(exist_ok=True)
        (results / f"bench_features_{summary['customers']}.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if summary["mismatches"] is None or summary["mismatches"]:
        sys.exit(1)


def fresh_run(args: argparse.Namespace) -> dict:
    """Fresh databases, the daily situation of the last simulated day D, then the comparison for D.

    Everything updated before D is loaded as the initial batch and dbt builds D - 1 on it (the first
    build: the staging history tables from every raw row; timed, reported as dbt_initial_build_*);
    then the batch of day D is extracted, as the daily DAG does, and both sides build D.
    """
    from common.migrate import migrate
    from devtools.scratch import create_database, drop_database, server_url
    from devtools.simulator import simulate

    start = dt.date.fromisoformat(args.start)
    day = start + dt.timedelta(days=round(args.months * 30.44) - 1)
    admin = server_url()
    names = {role: f"{args.db_prefix}_{role}" for role in ("crm", "finance", "warehouse")}
    urls = {role: create_database(admin, name, replace=True) for role, name in names.items()}
    os.environ.pop("WAREHOUSE_URL", None)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = urls["warehouse"]
    os.environ["AIRFLOW_CONN_CRM_SOURCE"] = urls["crm"]
    os.environ["AIRFLOW_CONN_FINANCE_SOURCE"] = urls["finance"]
    state = Path(tempfile.mkdtemp(prefix="bench_features_state_"))
    try:
        migrate(urls["warehouse"])
        print(f"== simulate {args.customers:,} customers, {start} .. {day}; load raw up to {day}", flush=True)
        began = time.monotonic()
        simulate(args.customers, start, day, seed=args.seed, dirty_rate=0.001, verbose=False)
        _extract(HISTORY, day)
        print(f"   {time.monotonic() - began:.0f}s", flush=True)
        print(f"== dbt build of {day - dt.timedelta(days=1)} (the first build: staging tables from all raw)",
              flush=True)
        initial = run_side("dbt", urls["warehouse"], day - dt.timedelta(days=1), state)
        if "error" in initial:
            raise RuntimeError(f"the initial dbt build did not finish: {initial['error']}")
        print(f"   {initial['seconds']:.1f}s, client peak {initial['peak_client_rss_mib']:,} MiB, server peak "
              f"{initial['peak_server_rss_mib']:,} MiB RSS / {initial['peak_server_uss_mib']:,} MiB USS", flush=True)
        _extract(day, day + dt.timedelta(days=1))
        print(f"== feature build for {day}: dbt (build_snapshot) vs pandas, {args.runs} run(s) each", flush=True)
        summary = compare_feature_builds(urls["warehouse"], day, runs=args.runs, dbt_state_dir=state)
    finally:
        shutil.rmtree(state, ignore_errors=True)
        if not args.keep:
            for name in names.values():
                drop_database(admin, name)
    return {**summary,
            "dbt_initial_build_seconds": round(initial["seconds"], 1),
            "dbt_initial_build_peak_rss_mib_client": initial["peak_client_rss_mib"],
            "dbt_initial_build_peak_rss_mib_server": initial["peak_server_rss_mib"],
            "dbt_initial_build_peak_uss_mib_server": initial["peak_server_uss_mib"],
            "dbt_initial_build_slowest_nodes": initial["slowest_nodes"]}


if __name__ == "__main__":
    main()
