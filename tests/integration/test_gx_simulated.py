"""The raw gates on batches the real extraction loads from the simulated (dirty) sources."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from common.migrate import migrate
from common.warehouse import transaction
from expectations.gate import QualityGateFailed, run_gate

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
FIRST_DAY = datetime(2025, 4, 1, tzinfo=UTC)


def _day(day: datetime) -> tuple[datetime, datetime]:
    return day, day + timedelta(days=1)


@pytest.fixture
def simulated(pipeline_dbs):
    """Sources with 5% bad rows of every kind, the history loaded, and one daily batch extracted."""
    from devtools.simulator import simulate
    from ingest.extract import extract_interval

    migrate(pipeline_dbs.warehouse)
    simulate(80, date(2025, 1, 1), date(2025, 3, 31), seed=11, dirty_rate=0.05, verbose=False)
    for source in ("crm", "finance"):
        extract_interval(source, SINCE, FIRST_DAY, verbose=False)
    simulate(80, date(2025, 1, 1), FIRST_DAY.date(), seed=11, dirty_rate=0.05, verbose=False)
    for source in ("crm", "finance"):
        extract_interval(source, *_day(FIRST_DAY), verbose=False)
    return pipeline_dbs.warehouse


def test_what_the_loader_lets_through_passes_the_raw_gates(simulated):
    with transaction(simulated) as cur:
        cur.execute("select distinct rule from quarantine.rejected_rows")
        rules = {r[0] for r in cur.fetchall()}
    assert rules, "the dirty simulation should have quarantined rows"
    for interval in ((SINCE, FIRST_DAY), _day(FIRST_DAY)):
        for stage in ("raw_crm", "raw_finance"):
            result = run_gate(stage, interval_start=interval[0], interval_end=interval[1], url=simulated,
                              run_id="sim")
            assert result.critical == 0


def test_a_referential_break_after_loading_is_caught(simulated):
    """An account lost after the invoices were loaded: the loader cannot see it, the gate does."""
    with transaction(simulated) as cur:
        cur.execute("select customer_id, count(*) from raw_finance.invoices where _interval_start = %s "
                    "group by customer_id order by customer_id limit 1", (SINCE,))
        customer, invoices = cur.fetchone()
        cur.execute("delete from raw_crm.accounts where account_id = %s", (customer,))
    with pytest.raises(QualityGateFailed, match=rf"raw_finance.invoices: unexpected_rows_expectation "
                                                rf"\[referential\] - {invoices} unexpected rows"):
        run_gate("raw_finance", interval_start=SINCE, interval_end=FIRST_DAY, url=simulated, run_id="sim")
