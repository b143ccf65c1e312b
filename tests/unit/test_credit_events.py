"""Credit event messages: what is accepted, what is rejected and why, and how a run picks its date."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ingest.load import batch_id_for
from ingest.sources import source_spec
from pipeline.events import RejectedMessage, day_parts, message_text, parse_event, rerate_date

AT = dt.datetime(2026, 11, 1, 10, 15, tzinfo=dt.UTC)


def body(**fields) -> str:
    event = {"event_id": "ev-1", "event_type": "default_event", "account_id": "ACC-000001",
             "occurred_at": AT.isoformat(), "source_key": "DEF-1"}
    event.update(fields)
    return json.dumps({k: v for k, v in event.items() if v is not None})


def test_a_well_formed_event_names_its_source_table_and_utc_time() -> None:
    event = parse_event(body(occurred_at="2026-11-01T11:15:00+01:00"))
    assert (event.event_id, event.account_id, event.source_table) == ("ev-1", "ACC-000001", "finance.default_events")
    assert event.occurred_at == AT and event.published_at is None


@pytest.mark.parametrize(("text", "reason"), [
    ("{oops", "malformed JSON"),
    ("[1, 2]", "a message must be a JSON object, got list"),
    (body(account_id=None), "missing required field(s): account_id"),
    (body(event_type=""), "missing required field(s): event_type"),
    (body(event_type="rumour"), "unknown event_type 'rumour'"),
    (body(occurred_at="last tuesday"), "occurred_at is not an ISO timestamp"),
])
def test_a_bad_message_is_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(RejectedMessage) as caught:
        parse_event(text)
    assert str(caught.value).startswith(reason)


def test_the_body_is_taken_from_the_triggers_payload() -> None:
    payload = {"type": "message", "pattern": None, "channel": "credit_events", "data": body()}
    assert message_text(payload) == body() == message_text(body().encode())


def test_an_intraday_extraction_is_cut_at_utc_midnight() -> None:
    start = dt.datetime(2026, 11, 1, 22, 0, tzinfo=dt.UTC)
    end = dt.datetime(2026, 11, 2, 1, 30, tzinfo=dt.UTC)
    midnight = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    assert day_parts(start, end) == [(start, midnight), (midnight, end)]
    assert day_parts(end, end) == []


def test_the_rerating_date_is_the_newest_change_and_always_after_the_rated_dates() -> None:
    rated = dt.date(2026, 10, 31)
    assert rerate_date(rated, AT, []) == dt.date(2026, 11, 1)
    assert rerate_date(rated, None, [AT + dt.timedelta(days=1)]) == dt.date(2026, 11, 2)
    # a late event of a date the daily run has rated already: the next date, never the rated one
    assert rerate_date(dt.date(2026, 11, 1), AT, []) == dt.date(2026, 11, 2)


def test_an_intraday_batch_is_marked_and_keeps_microseconds() -> None:
    spec = source_spec("finance").table("payments")
    start = dt.datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    end = dt.datetime(2026, 11, 1, 10, 5, tzinfo=dt.UTC)
    assert batch_id_for(spec, start, end, intraday=True) == (
        "finance.payments/20261101T100000.123456Z-20261101T100500.000000Z/intraday")
    assert not batch_id_for(spec, start, end).endswith("/intraday")


def test_the_simulator_announces_only_rows_that_are_credit_events() -> None:
    import pandas as pd

    from devtools.simulator.events import event_type_for

    day = dt.date(2026, 11, 1)
    overdue = pd.Series({"status": "open", "due_date": dt.date(2026, 10, 20)})
    assert event_type_for("finance.invoices", overdue, day) == "payment_overdue"
    assert event_type_for("finance.invoices", overdue.copy().replace({"open": "paid"}), day) is None
    assert event_type_for("finance.invoices", pd.Series({"status": "open", "due_date": day}), day) is None
    assert event_type_for("finance.disputes", pd.Series({"status": "open"}), day) == "dispute_opened"
    assert event_type_for("finance.disputes", pd.Series({"status": "resolved"}), day) is None
    assert event_type_for("finance.payments", pd.Series({"amount": 10}), day) == "payment_received"
    assert event_type_for("crm.activities", pd.Series({"outcome": "negative"}), day) is None
