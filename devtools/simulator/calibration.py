"""The simulated book measured against its calibration targets (docs/ingestion.md quotes the table).

    python -m devtools.simulator.calibration --customers 2000 --start 2023-11-01 --end 2026-10-31 --seed 7

Draws the same rows as `python -m ingest.simulate` with the same arguments (same seeds, same chunks),
in memory, and measures on the --end day what a head of credit would check first: defaults, arrivals
and leavers per year, payment terms, limits against sales, utilisation, arrears of live accounts,
the write-off of every defaulter, seasonality and the dunning of late payers.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from devtools.simulator.clock import Clock
from devtools.simulator.customers import SIZES, Customers, Lifecycle, draw_customers
from devtools.simulator.write import CHUNK_SIZE, chunk_tables


@dataclass(frozen=True)
class Measure:
    """One calibration figure: what it is, its target range and the value measured."""

    name: str
    low: float
    high: float
    value: float
    unit: str = "%"

    @property
    def ok(self) -> bool:
        return self.low <= self.value <= self.high


def drawn_book(
    customers: int, start: dt.date, end: dt.date, seed: int, lifecycle: Lifecycle | None = None
) -> Iterator[tuple[Customers, dict[str, pd.DataFrame]]]:
    """The customers and tables `simulate` writes, chunk by chunk (no database)."""
    lifecycle = lifecycle or Lifecycle()
    cut = float((end - start).days + 1)
    for first in range(0, customers, CHUNK_SIZE):
        rng = np.random.default_rng([seed, first // CHUNK_SIZE])
        cust = draw_customers(rng, first + 1, min(CHUNK_SIZE, customers - first), lifecycle)
        yield cust, chunk_tables(rng, cust, Clock(start), cut, lifecycle)


def measure(  # noqa: PLR0915 - one figure after the other
    customers: int, start: dt.date, end: dt.date, seed: int, lifecycle: Lifecycle | None = None
) -> list[Measure]:
    """The calibration figures of the book as of the end of `end` (needs at least a year of history)."""
    lifecycle = lifecycle or Lifecycle()
    if (end - start).days < 400:
        raise ValueError("calibration needs at least 400 days between --start and --end")
    cut = float((end - start).days + 1)
    year_ago = cut - 365.0
    parts: dict[str, list[pd.DataFrame]] = {}
    people: list[pd.DataFrame] = []
    for c, tables in drawn_book(customers, start, end, seed, lifecycle):
        for name in ("invoices", "payments", "credit_limits", "default_events"):
            parts.setdefault(name, []).append(tables[name])
        people.append(
            pd.DataFrame(
                {
                    "customer_id": np.strings.add("C", np.strings.zfill(c.num.astype(str), 7)).astype(object),
                    "w0": c.w0,
                    "created": c.created,
                    "default_day": c.default_day,
                    "block_day": c.block_day,
                    "write_off_day": c.write_off_day,
                    "inactive_day": c.inactive_day,
                    "terms": c.terms,
                    "size": SIZES[c.size],
                }
            )
        )
    book = pd.concat(people, ignore_index=True).set_index("customer_id")
    inv, pay, lim, events = (pd.concat(parts[n], ignore_index=True) for n in parts)
    origin = pd.Timestamp(start)

    def day(col: pd.Series) -> np.ndarray:
        return ((pd.to_datetime(col) - origin) / pd.Timedelta(days=1)).to_numpy(dtype=float)

    def live_at(t: float) -> pd.Series:
        return (book.created < t) & (book.inactive_day > t) & (book.block_day > t) & (book.write_off_day > t)

    live_year_ago, live = live_at(year_ago), live_at(cut)
    out: list[Measure] = []
    defaulted = live_year_ago & (book.default_day >= year_ago) & (book.default_day < cut)
    out.append(
        Measure("defaults in the last 12 months, of the book a year ago", 3, 7, 100 * defaulted.mean())
    )
    arrived = (book.created >= year_ago) & (book.created < cut)
    left = (book.inactive_day >= year_ago) & (book.inactive_day < cut)
    out.append(
        Measure(
            "new customers in the last 12 months, of the book a year ago",
            5,
            12,
            100 * arrived.sum() / live_year_ago.sum(),
        )
    )
    out.append(
        Measure(
            "customers who stopped trading in the last 12 months",
            3,
            9,
            100 * left.sum() / live_year_ago.sum(),
        )
    )
    for terms, (low, high) in {30: (50.0, 75.0), 60: (20.0, 40.0), 90: (5.0, 15.0)}.items():
        out.append(
            Measure(f"live customers on net {terms}", low, high, 100 * (book.terms[live] == terms).mean())
        )

    inv = inv[inv.status != "cancelled"].assign(
        issue=lambda f: day(f.issue_date), due=lambda f: day(f.due_date)
    )
    last_year = inv[inv.issue >= year_ago]
    sales = last_year.groupby("customer_id").amount.sum().reindex(book.index).fillna(0.0)
    months_traded = np.clip((cut - np.maximum(book.w0, 0.0)) / 30.44, 1.0, 12.0)
    monthly = sales / months_traded
    lim = lim.assign(valid=lambda f: day(f.valid_from)).sort_values(["customer_id", "valid"])
    current = lim.groupby("customer_id").credit_limit.last().reindex(book.index)
    traded = live & (monthly > 0)
    multiple = (current / monthly)[traded]
    for size, (low, high) in {"small": (3.0, 5.0), "medium": (2.5, 4.5), "large": (2.0, 4.0)}.items():
        out.append(
            Measure(
                f"credit limit in months of sales, median, {size}",
                low,
                high,
                float(multiple[book["size"][traded] == size].median()),
                "months",
            )
        )

    paid = pay.groupby("invoice_id").amount.sum()
    last_pay = pay.assign(t=lambda f: day(f.payment_date)).groupby("invoice_id").t.max()
    inv = inv.assign(paid=inv.invoice_id.map(paid).fillna(0.0), settled=inv.invoice_id.map(last_pay))
    open_now = inv[(inv.paid < inv.amount - 0.01) | (inv.settled >= cut)]
    exposure = open_now.groupby("customer_id").amount.sum().reindex(book.index).fillna(0.0)
    util = (exposure / current)[live & (current > 0)]
    out.append(Measure("live customers over their limit", 5, 20, 100 * (util > 1).mean()))
    out.append(Measure("limit utilisation, median", 20, 60, 100 * float(util.median())))
    oldest_due = open_now.groupby("customer_id").due.min().reindex(book.index)
    dpd = np.clip(cut - oldest_due, 0, None).fillna(0.0)[live]
    out.append(Measure("live customers more than 30 days past due", 1, 8, 100 * (dpd > 30).mean()))
    out.append(
        Measure(
            "live customers more than 90 days past due (in default, before the block)",
            0,
            1.5,
            100 * (dpd > 90).mean(),
        )
    )
    out.append(
        Measure(
            "most days past due of a live customer",
            0,
            lifecycle.block_after_dpd + 45,
            float(dpd.max()),
            "days",
        )
    )
    matured = np.isfinite(book.default_day) & (
        book.default_day + lifecycle.write_off_after_dpd - lifecycle.default_dpd + 10 < cut
    )
    written_off = set(events.loc[events.event_type == "write_off", "customer_id"])
    out.append(
        Measure(
            "defaults past the write-off point that were written off",
            100,
            100,
            100 * float(np.mean([c in written_off for c in book.index[matured]]) if matured.any() else 1),
        )
    )

    month = pd.to_datetime(inv.issue_date).dt.month
    full_years = inv[(inv.issue >= cut - 730) & (inv.issue < cut)]
    by_month = full_years.groupby(month[full_years.index]).amount.sum()
    out.append(
        Measure(
            "seasonality: busiest over quietest month of invoicing",
            1.2,
            1.7,
            float(by_month.max() / by_month.min()),
            "x",
        )
    )
    settled = inv[inv.settled < cut]
    late = settled.settled - settled.due
    out.append(Measure("settled invoices paid after their due date", 15, 35, 100 * (late > 0).mean()))
    first_reminder = lifecycle.dunning_dpd[0]
    out.append(
        Measure(
            f"late payments settled only after the first reminder ({first_reminder:g} dpd)",
            30,
            75,
            100 * (late[late > 0] > first_reminder).mean(),
        )
    )
    return out


def report(measures: list[Measure]) -> str:
    """The figures as a table with their targets."""
    width = max(len(m.name) for m in measures)
    lines = [f"{'figure':<{width}}  {'target':>15}  {'measured':>9}"]
    for m in measures:
        target = f"{m.low:g}-{m.high:g} {m.unit}"
        lines.append(f"{m.name:<{width}}  {target:>15}  {m.value:>9.2f}  {'ok' if m.ok else 'OFF TARGET'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2023, 11, 1))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(report(measure(args.customers, args.start, args.end, args.seed)))


if __name__ == "__main__":
    main()
