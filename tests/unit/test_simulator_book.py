"""The simulated receivables book: calibration targets, the arrears lifecycle and its options (no database)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from devtools.simulator import cli
from devtools.simulator.calibration import measure, report
from devtools.simulator.clock import Clock
from devtools.simulator.customers import Lifecycle, draw_customers
from devtools.simulator.write import chunk_tables

START, END = dt.date(2023, 11, 1), dt.date(2026, 10, 31)


def test_the_demo_book_meets_every_calibration_target() -> None:
    figures = measure(2000, START, END, seed=7)
    off = [m for m in figures if not m.ok]
    assert not off, "\n" + report(off)
    assert len(figures) >= 15


def _book(lifecycle: Lifecycle, n: int = 3000) -> tuple[np.ndarray, dict[str, pd.DataFrame]]:
    rng = np.random.default_rng([5, 0])
    customers = draw_customers(rng, 1, n, lifecycle)
    cut = float((END - START).days + 1)
    return customers.default_day, chunk_tables(rng, customers, Clock(START), cut, lifecycle)


@pytest.mark.parametrize("block, write_off", [(120, 180), (100, 150)])
def test_a_defaulter_is_blocked_then_written_off_at_the_configured_days_past_due(block: int, write_off: int) -> None:
    default_day, tables = _book(Lifecycle(block_after_dpd=block, write_off_after_dpd=write_off))
    events = tables["default_events"].set_index("customer_id")
    dpd90 = pd.to_datetime(events.loc[events.event_type == "dpd90", "event_date"])
    written = pd.to_datetime(events.loc[events.event_type == "write_off", "event_date"])
    both = dpd90.index.intersection(written.index)
    assert len(both) > 20
    assert ((written[both] - dpd90[both]).dt.days.between(write_off - 90 - 1, write_off - 90 + 1)).all()
    limits = tables["credit_limits"]
    stops = limits[limits.credit_limit == 0].set_index("customer_id")
    stopped = stops.index.intersection(dpd90.index)
    assert len(stopped) > 20 and set(stops.index) <= set(dpd90.index)  # only defaulters are blocked
    days = (pd.to_datetime(stops.loc[stopped, "valid_from"]) - dpd90[stopped]).dt.days
    assert days.between(block - 90 - 1, block - 90 + 1).all()
    # no invoice after the default: the order stop
    invoices = tables["invoices"].merge(dpd90.rename("default").reset_index(), on="customer_id")
    assert (pd.to_datetime(invoices.issue_date) <= invoices["default"]).all()


def test_the_lifecycle_refuses_a_write_off_before_the_block() -> None:
    with pytest.raises(ValueError, match="block_after_dpd"):
        Lifecycle(block_after_dpd=200, write_off_after_dpd=150)


def test_limits_follow_sales_and_invoices_are_never_overwritten_as_paid() -> None:
    _, tables = _book(Lifecycle())
    assert set(tables["invoices"].status) <= {"open", "cancelled"}  # settlement lives in payments
    assert tables["invoices"].updated_at.ge(tables["invoices"].created_at).all()
    # reviews move limits: most customers hold more than one limit over three years
    per_customer = tables["credit_limits"].groupby("customer_id").size()
    assert (per_customer > 1).mean() > 0.5


def test_the_command_passes_the_lifecycle_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    monkeypatch.setattr(cli, "simulate", lambda *args, **kwargs: seen.update(kwargs, args=args))
    cli.main(["--customers", "10", "--start", "2024-01-01", "--end", "2024-02-01",
              "--block-after-dpd", "100", "--write-off-after-dpd", "150"])
    assert seen["lifecycle"] == Lifecycle(block_after_dpd=100, write_off_after_dpd=150)
    assert seen["args"] == (10, "2024-01-01", "2024-02-01")
