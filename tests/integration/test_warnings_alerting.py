"""The day's new critical warnings go out in one e-mail through the Airflow SMTP notifier."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import date

import pytest

from ml.registry import Champion
from ratings.notify import send_new_critical_warnings
from ratings.publish import score_and_publish
from tests.helpers.ratings import CraftedModel, calm_features, load_features
from tests.helpers.smtp import Inbox, local_smtp
from tests.helpers.sql import fetch

D0, D1, D2 = date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)


@pytest.fixture
def smtp_inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A local SMTP server on a free 127.0.0.1 port, wired in as Airflow connection smtp_default."""
    with local_smtp(monkeypatch) as inbox:
        yield inbox


def _publish(url: str, d: date, dpd: dict[str, int]):
    load_features(url, calm_features(d, dpd))
    return score_and_publish(d, f"run-{d}", url, champion=Champion("crm_credit_pd", "3", CraftedModel()))


def test_new_critical_warnings_go_out_in_one_message_with_the_count(warehouse_url: str, smtp_inbox: Inbox) -> None:
    _publish(warehouse_url, D0, {})  # the first rated date: a calm book
    result = _publish(warehouse_url, D1, {"c1": 45, "c2": 31, "c3": 90})
    assert send_new_critical_warnings(result, warehouse_url) == 3
    assert len(smtp_inbox.messages) == 1
    envelope = smtp_inbox.messages[0]
    msg = email.message_from_bytes(envelope.content)
    assert msg["Subject"] == "Credit risk: 3 new critical warning(s) for 2026-03-01"
    assert envelope.mail_from == "credit-risk-pipeline@example.com"
    assert envelope.rcpt_tos == ["credit-risk@example.com"]
    body = "".join(p.get_payload(decode=True).decode() for p in msg.walk() if p.get_content_type() == "text/html")
    assert all(c in body for c in ("c1", "c2", "c3")) and body.count("DPD_30") == 3


def test_only_episodes_opened_that_day_are_sent_and_none_means_no_message(
    warehouse_url: str, smtp_inbox: Inbox
) -> None:
    _publish(warehouse_url, D0, {})
    _publish(warehouse_url, D1, {"c1": 45})
    _publish(warehouse_url, D2, {"c1": 46, "c2": 60})  # c1 continues: not new; c2 is new
    assert send_new_critical_warnings(D2, warehouse_url) == 1  # by date: read from the warehouse
    msg = email.message_from_bytes(smtp_inbox.messages[0].content)
    assert msg["Subject"].startswith("Credit risk: 1 new critical warning(s)")
    assert send_new_critical_warnings(date(2026, 3, 5), warehouse_url) == 0
    assert len(smtp_inbox.messages) == 1


def test_conditions_present_on_the_first_rated_date_are_counted_not_mailed(
    warehouse_url: str, smtp_inbox: Inbox
) -> None:
    result = _publish(warehouse_url, D1, {"c1": 45, "c2": 31, "c3": 90})
    assert (result.warnings_initial, result.new_critical_warnings) == (3, 0)
    assert send_new_critical_warnings(D1, warehouse_url) == 0 and smtp_inbox.messages == []
    assert fetch(warehouse_url, "select opened_as, count(*) from ratings.credit_warnings group by 1") == [("initial", 3)]


def test_a_rerun_or_backfill_of_a_date_never_sends_an_alert_twice(warehouse_url: str, smtp_inbox: Inbox) -> None:
    _publish(warehouse_url, D0, {})
    _publish(warehouse_url, D1, {"c1": 45, "c2": 31})
    assert send_new_critical_warnings(D1, warehouse_url, run_id="run-a") == 2
    _publish(warehouse_url, D1, {"c1": 45, "c2": 31})  # the date is rerun: same episodes, same ids
    assert send_new_critical_warnings(D1, warehouse_url, run_id="run-b") == 0
    assert len(smtp_inbox.messages) == 1
    delivered = fetch(warehouse_url, "select d.warning_id, d.channel, d.as_of_date, d.run_id, w.customer_id"
                      " from audit.alert_deliveries as d join ratings.credit_warnings as w using (warning_id)"
                      " order by w.customer_id")
    assert [(r[1], r[2], r[3], r[4]) for r in delivered] == [("email", D1, "run-a", "c1"), ("email", D1, "run-a", "c2")]
    _publish(warehouse_url, D2, {"c1": 46, "c2": 40, "c3": 35})  # only c3 is new on D2
    assert send_new_critical_warnings(D2, warehouse_url) == 1
    assert len(smtp_inbox.messages) == 2


def test_a_failed_send_records_no_delivery_so_the_next_run_sends_it(warehouse_url: str) -> None:
    class Broken:
        def __call__(self, context: dict) -> None:
            raise ConnectionError("smtp down")

    _publish(warehouse_url, D0, {})
    _publish(warehouse_url, D1, {"c1": 45})
    with pytest.raises(ConnectionError):
        send_new_critical_warnings(D1, warehouse_url, notifier=Broken())
    assert fetch(warehouse_url, "select count(*) from audit.alert_deliveries") == [(0,)]
