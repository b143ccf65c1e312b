"""Publish the credit events of simulated days on Redis, each after its row is written to its source system.

    python -m ingest.simulate --customers 2000 --start 2024-01-01 --end 2026-11-01 --seed 7 \\
        --publish-events-from 2026-11-01 --rate 1 [--max-events 300]

The sources must hold the state as of the day before --publish-events-from (a run with --end that day,
as the daily run has loaded it). The rows that change on the published days (the days' state, drawn
exactly as `simulate` draws it) are then written in updated_at order, one transaction per row; a row
of an event table (config/events.yml event_types) is followed by its message on the credit events
channel, at --rate messages per second. Rows of other tables (CRM activity, new invoices, ...) are
written as their time comes, without a message (the re-rating finds them by watermark). With
--max-events the rest of the days' rows are written at the end, without messages, so the sources still
reach --end.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from psycopg2 import sql

from common.config import load_config
from common.warehouse import CRM_SOURCE, FINANCE_SOURCE, connect, connection_url, copy_rows
from devtools.simulator.clock import Clock
from devtools.simulator.customers import draw_customers
from devtools.simulator.write import CHUNK_SIZE, chunk_tables
from ingest.sources import TableSpec, load_sources


@dataclass(frozen=True)
class Change:
    """One source row as it stands after a change on a published day."""

    updated_at: pd.Timestamp
    source: str
    spec: TableSpec
    row: pd.Series


def event_type_for(table: str, row: pd.Series, day: dt.date) -> str | None:
    """The credit event a changed row announces (None: a change without a message)."""
    types = {str(v): str(k) for k, v in load_config("events")["event_types"].items()}
    kind = types.get(table)
    if kind == "payment_overdue":  # an invoice row announces an overdue payment only when it is one
        due = pd.Timestamp(row.get("due_date")).date() if pd.notna(row.get("due_date")) else None
        return kind if row.get("status") == "open" and due is not None and due < day else None
    if kind == "dispute_opened":
        return kind if row.get("status") == "open" else None
    return kind


def day_changes(customers: int, start: dt.date, first: dt.date, end: dt.date, seed: int) -> list[Change]:
    """The rows whose updated_at lies in [first, end] in the state `simulate(..., end)` writes, in updated_at order."""
    sources = load_sources()
    owner = {spec.name: name for name in ("crm", "finance") for spec in sources[name].tables}
    clock = Clock(start)
    cut = float((end - start).days + 1)
    since = pd.Timestamp(first, tz="UTC")
    changes: list[Change] = []
    for offset in range(0, customers, CHUNK_SIZE):
        chunk_no = offset // CHUNK_SIZE
        rng = np.random.default_rng([seed, chunk_no])
        cust = draw_customers(rng, offset + 1, min(CHUNK_SIZE, customers - offset))
        for table, frame in chunk_tables(rng, cust, clock, cut).items():
            spec = sources[owner[table]].table(table)
            stamps = pd.to_datetime(frame[spec.watermark], utc=True)
            for index in np.flatnonzero((stamps >= since).to_numpy()):
                changes.append(Change(stamps.iloc[index], owner[table], spec, frame.iloc[index]))
    changes.sort(key=lambda c: c.updated_at)
    return changes


def _write(cursors: dict[str, Any], change: Change) -> None:
    """Replace the row in its source (keys are indexed, not enforced) and commit."""
    spec, source = change.spec, load_sources()[change.source]
    cur = cursors[change.source]
    table = f"{source.schema}.{spec.name}"
    cur.execute(
        sql.SQL("delete from {} where {} = %s").format(
            sql.Identifier(source.schema, spec.name), sql.Identifier(spec.primary_key)
        ),
        (str(change.row[spec.primary_key]),),
    )
    copy_rows(cur, table, list(spec.columns), change.row.to_frame().T)
    cur.connection.commit()


def message_for(change: Change, event_type: str) -> str:
    """The JSON a source system publishes for the changed row."""
    account = change.row.get("account_id", change.row.get("customer_id"))
    if change.spec.name == "payments":
        account = change.row.get("_account_id")
    return json.dumps(
        {
            "event_id": f"sim-{uuid.uuid4().hex[:16]}",
            "event_type": event_type,
            "account_id": None if account is None or pd.isna(account) else str(account),
            "source_key": str(change.row[change.spec.primary_key]),
            "occurred_at": change.updated_at.isoformat(),
            "published_at": dt.datetime.now(dt.UTC).isoformat(),
        }
    )


def _payment_accounts(changes: list[Change], finance_url: str) -> None:
    """Payments name their invoice: look up the invoice's customer for the message."""
    invoices = {str(c.row["invoice_id"]) for c in changes if c.spec.name == "payments"}
    if not invoices:
        return
    known = {str(c.row["invoice_id"]): c.row["customer_id"] for c in changes if c.spec.name == "invoices"}
    conn = connect(finance_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select invoice_id, customer_id from finance.invoices where invoice_id = any(%s)",
                (sorted(invoices),),
            )
            known.update({r[0]: r[1] for r in cur.fetchall()})
    finally:
        conn.close()
    for change in changes:
        if change.spec.name == "payments":
            change.row["_account_id"] = known.get(str(change.row["invoice_id"]))


def publish_events(
    customers: int,
    start: dt.date,
    first: dt.date,
    end: dt.date,
    seed: int = 42,
    rate: float = 1.0,
    max_events: int | None = None,
    redis_url: str | None = None,
    channel: str | None = None,
    verbose: bool = True,
) -> Iterator[dict[str, Any]]:
    """Write the days' changed rows in time order and publish their events; yields each published event
    (account_id, event_type, published_at as epoch seconds) as it goes."""
    import redis

    from pipeline.operations import credit_events_channel

    bus = redis.Redis.from_url(redis_url or _redis_url())
    channel = channel or credit_events_channel()
    changes = day_changes(customers, start, first, end, seed)
    urls = {"crm": connection_url(CRM_SOURCE), "finance": connection_url(FINANCE_SOURCE)}
    _payment_accounts(changes, urls["finance"])
    conns = {name: connect(url) for name, url in urls.items()}
    cursors = {name: conn.cursor() for name, conn in conns.items()}
    for cur in cursors.values():
        cur.execute("set timezone = 'UTC'")
    published = silent = 0
    interval = 1.0 / rate if rate > 0 else 0.0
    next_at = time.monotonic()
    try:
        for change in changes:
            kind = None
            if max_events is None or published < max_events:
                kind = event_type_for(change.spec.qualified, change.row, change.updated_at.date())
            _write(cursors, change)
            if kind is None:
                silent += 1
                continue
            wait = next_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            text = message_for(change, kind)
            bus.publish(channel, text)
            published += 1
            next_at = max(next_at + interval, time.monotonic())
            body = json.loads(text)
            if verbose and published % 25 == 0:
                print(f"simulate: {published:,} events published, {silent:,} other rows written", flush=True)
            yield {"account_id": body["account_id"], "event_type": kind, "published_at": time.time()}
    finally:
        for conn in conns.values():
            conn.close()
    if verbose:
        print(
            f"simulate: {published:,} events published on {channel!r}, {silent:,} rows without a message",
            flush=True,
        )


def _redis_url() -> str:
    import os

    from devtools.local_airflow import LOCAL_CREDIT_EVENTS

    value = os.environ.get("AIRFLOW_CONN_CREDIT_EVENTS") or LOCAL_CREDIT_EVENTS
    return value
