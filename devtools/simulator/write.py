"""Writing both simulated source databases as of a day, chunk by chunk of customers."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd

from common.warehouse import CRM_SOURCE, FINANCE_SOURCE, connect, connection_url, copy_rows
from devtools.simulator import crm, finance
from devtools.simulator.clock import Clock
from devtools.simulator.customers import HORIZON_DAYS, Customers, Lifecycle, draw_customers
from devtools.simulator.dirty import add_dirty_rows
from ingest.sources import SourceSpec, load_sources

CHUNK_SIZE = 50_000  # customers per generator; memory stays flat at any scale


def source_ddl(source: SourceSpec) -> str:
    """The simulated system's tables. Keys are indexed but not enforced, so duplicates can be injected."""
    parts = [f"create schema if not exists {source.schema};"]
    for spec in source.tables:
        cols = ",\n".join(f"    {col} {typ}" for col, typ in spec.columns.items())
        parts.append(f"create table if not exists {source.schema}.{spec.name} (\n{cols}\n);")
        # indexes are rebuilt after the bulk load: building once is cheaper than updating row by row
        parts.append(f"drop index if exists {source.schema}.{spec.name}_key_idx;")
        parts.append(f"drop index if exists {source.schema}.{spec.name}_wm_idx;")
    return "\n".join(parts)


def source_indexes(source: SourceSpec) -> str:
    """The key index, and the watermark index that keeps daily extraction reads cheap."""
    parts = []
    for spec in source.tables:
        table = f"{source.schema}.{spec.name}"
        parts.append(f"create index {spec.name}_key_idx on {table} ({spec.primary_key});")
        parts.append(f"create index {spec.name}_wm_idx on {table} ({spec.watermark});")
    return "\n".join(parts)


def chunk_tables(
    rng: np.random.Generator, c: Customers, clock: Clock, cut: float, lifecycle: Lifecycle | None = None
) -> dict[str, pd.DataFrame]:
    """All tables of one chunk. The call order fixes the random stream: never reorder it."""
    lifecycle = lifecycle or Lifecycle()
    defaults = finance.default_events(rng, c, clock, cut)
    fin = finance.invoicing(rng, c, clock, cut, lifecycle)
    return {
        "accounts": crm.accounts(rng, c, clock, cut),
        "contacts": crm.contacts(rng, c, clock, cut),
        "activities": crm.activities(rng, c, clock, cut),
        "tickets": crm.tickets(rng, c, clock, cut),
        "opportunities": crm.opportunities(rng, c, clock, cut),
        "invoices": fin.invoices,
        "payments": fin.payments,
        "credit_limits": finance.credit_limits(rng, c, clock, cut, fin.sales),
        "credit_notes": fin.credit_notes,
        "disputes": fin.disputes,
        "default_events": defaults,
        "bureau_ratings": finance.bureau_ratings(rng, c, clock, cut),
    }


def simulate(
    customers: int,
    start: dt.date | str,
    end: dt.date | str,
    seed: int = 42,
    dirty_rate: float = 0.0,
    crm_url: str | None = None,
    finance_url: str | None = None,
    verbose: bool = True,
    lifecycle: Lifecycle | None = None,
) -> dict[str, int]:
    """Write both source systems as of the end of `end`; returns rows written per `source.table`.

    URLs default to the connections crm_source / finance_source. Each database is replaced in one
    transaction, so readers never see a half-written source. `lifecycle` sets the days past due of
    the credit stop and the write-off (default: Lifecycle()).
    """
    lifecycle = lifecycle or Lifecycle()
    start, end = _as_date(start), _as_date(end)
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    cut = float((end - start).days + 1)  # up to the end of the --end day
    if cut > HORIZON_DAYS:
        raise ValueError(f"--end may be at most {HORIZON_DAYS - 1} days after --start (fixed horizon)")
    if not 0 <= dirty_rate < 0.5:
        raise ValueError("--dirty-rate must be in [0, 0.5)")
    sources = load_sources()
    targets = {
        "crm": crm_url or connection_url(CRM_SOURCE),
        "finance": finance_url or connection_url(FINANCE_SOURCE),
    }
    owner = {spec.name: name for name in ("crm", "finance") for spec in sources[name].tables}
    clock = Clock(start)
    began = time.monotonic()
    counts: dict[str, int] = {}
    conns = {name: connect(url) for name, url in targets.items()}
    try:
        cursors = {}
        for name, conn in conns.items():
            cur = conn.cursor()
            cur.execute("set timezone = 'UTC'")
            cur.execute(source_ddl(sources[name]))
            tables = ", ".join(f"{sources[name].schema}.{t.name}" for t in sources[name].tables)
            cur.execute(f"truncate {tables}")
            cursors[name] = cur
        for first in range(0, customers, CHUNK_SIZE):
            chunk_no = first // CHUNK_SIZE
            rng = np.random.default_rng([seed, chunk_no])
            cust = draw_customers(rng, first + 1, min(CHUNK_SIZE, customers - first), lifecycle)
            frames = chunk_tables(rng, cust, clock, cut, lifecycle)
            dirty_rng = np.random.default_rng([seed, chunk_no, 1])  # separate stream: dirt never shifts data
            for table, frame in frames.items():
                source = sources[owner[table]]
                spec = source.table(table)
                frame = add_dirty_rows(dirty_rng, frame, spec, dirty_rate)
                columns = list(spec.columns)
                counts[spec.qualified] = counts.get(spec.qualified, 0) + copy_rows(
                    cursors[source.name], f"{source.schema}.{table}", columns, frame
                )
            if verbose:
                done = min(first + CHUNK_SIZE, customers)
                print(
                    f"simulate: {done:,}/{customers:,} customers, {sum(counts.values()):,} rows, "
                    f"{time.monotonic() - began:.1f}s",
                    flush=True,
                )
        for name, conn in conns.items():
            cursors[name].execute(source_indexes(sources[name]))
            conn.commit()
    finally:
        for conn in conns.values():
            conn.close()
    if verbose:
        _summary(counts, time.monotonic() - began)
    return counts


def _summary(counts: dict[str, int], seconds: float) -> None:
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        print(f"  {key:<{width}} {value:>12,}")
    print(f"simulate: {sum(counts.values()):,} rows in {seconds:.1f}s", flush=True)


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
