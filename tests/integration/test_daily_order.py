"""A day is loaded for the first time only after the day before it: new ranges run forward."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import daily

START = dt.date(2025, 1, 1)
FIRST = dt.date(2025, 3, 1)  # the initial load ends here


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def test_first_load_of_a_day_needs_the_previous_interval_and_a_reload_does_not(warehouse_url):
    from devtools.simulator import simulate
    from ingest.extract import extract_interval

    simulate(60, START, FIRST + dt.timedelta(days=2), seed=3, verbose=False)
    for source in ("crm", "finance"):
        extract_interval(source, midnight(dt.date(2000, 1, 1)), midnight(FIRST), verbose=False)

    day2 = FIRST + dt.timedelta(days=1)
    with pytest.raises(daily.MissingPredecessor, match=r"crm: no loaded interval ends at 2025-03-02"):
        daily.extract("crm", midnight(day2), midnight(day2 + dt.timedelta(days=1)), "backwards")

    daily.extract("crm", midnight(FIRST), midnight(day2), "forward-1")  # continues the initial load
    daily.extract("crm", midnight(day2), midnight(day2 + dt.timedelta(days=1)), "forward-2")
    daily.extract("crm", midnight(FIRST), midnight(day2), "reload-1")  # reprocessing is always allowed
    with pytest.raises(daily.MissingPredecessor, match="finance"):
        daily.extract("finance", midnight(day2), midnight(day2 + dt.timedelta(days=1)), "finance-gap")
