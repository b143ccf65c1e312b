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

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


@pytest.fixture
def smtp_inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A local SMTP server on a free 127.0.0.1 port, wired in as Airflow connection smtp_default."""
    with local_smtp(monkeypatch) as inbox:
        yield inbox


def _publish(url: str, d: date, dpd: dict[str, int]):
    load_features(url, calm_features(d, dpd))
    return score_and_publish(d, f"run-{d}", url, champion=Champion("crm_credit_pd", "3", CraftedModel()))


def test_new_critical_warnings_go_out_in_one_message_with_the_count(warehouse_url: str, smtp_inbox: Inbox) -> None:
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
    _publish(warehouse_url, D1, {"c1": 45})
    _publish(warehouse_url, D2, {"c1": 46, "c2": 60})  # c1 continues: not new; c2 is new
    assert send_new_critical_warnings(D2, warehouse_url) == 1  # by date: read from the warehouse
    msg = email.message_from_bytes(smtp_inbox.messages[0].content)
    assert msg["Subject"].startswith("Credit risk: 1 new critical warning(s)")
    assert send_new_critical_warnings(date(2026, 3, 5), warehouse_url) == 0
    assert len(smtp_inbox.messages) == 1
