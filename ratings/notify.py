"""Alerting: the day's new critical warnings in one message through an Airflow notifier (SMTP default),
each delivery recorded in audit.alert_deliveries so that it is sent once."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import psycopg2.extensions

from common.config import load_config
from common.warehouse import WAREHOUSE, connection_url, transaction
from ratings.episodes import episodes_opened
from ratings.queries import queries

CHANNEL = "email"
ALERT_LOCK_KEY = 4_171_031  # serialises alert sends, so two runs of a date cannot both send


def _alerting_config() -> dict[str, Any]:
    return dict(load_config("warnings").get("alerting") or {})


def new_critical_warnings(
    as_of_date: date, url: str | None = None, severity: str | None = None
) -> list[dict]:
    """New (not initial) warning episodes of the alerting severity that opened on as_of_date."""
    severity = severity or str(_alerting_config().get("severity", "critical"))
    with transaction(url or connection_url(WAREHOUSE)) as cur:
        return episodes_opened(cur, as_of_date, severity)


def undelivered(cur: psycopg2.extensions.cursor, warnings: list[dict], channel: str) -> list[dict]:
    """The warnings whose alert has not yet gone out on channel (audit.alert_deliveries)."""
    if not warnings:
        return []
    cur.execute(
        queries("alerts")["delivered"], {"ids": [int(w["warning_id"]) for w in warnings], "channel": channel}
    )
    done = {int(r[0]) for r in cur.fetchall()}
    return [w for w in warnings if int(w["warning_id"]) not in done]


def build_message(as_of_date: date, warnings: list[dict], max_listed: int = 50) -> tuple[str, str]:
    """Subject and HTML body listing the warnings (the count in the subject is always complete)."""
    subject = f"Credit risk: {len(warnings)} new critical warning(s) for {as_of_date.isoformat()}"
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(w.get(k, '')))}</td>"
            for k in ("rule_code", "customer_id", "metric_value", "threshold", "message")
        )
        + "</tr>"
        for w in warnings[:max_listed]
    )
    more = len(warnings) - max_listed
    tail = f"<p>... and {more} more: see ratings.open_credit_warnings.</p>" if more > 0 else ""
    body = (
        f"<p>{len(warnings)} new critical credit warning(s) opened on {as_of_date.isoformat()}.</p>"
        "<table><tr><th>rule</th><th>customer</th><th>value</th><th>threshold</th><th>message</th></tr>"
        f"{rows}</table>{tail}"
    )
    # The notifier renders its fields with Jinja: braces in data must not be read as template syntax.
    return subject, body.replace("{", "&#123;").replace("}", "&#125;")


def send_new_critical_warnings(
    result_or_date: Any,
    url: str | None = None,
    *,
    notifier: Any | None = None,
    to: str | list[str] | None = None,
    smtp_conn_id: str | None = None,
    context: dict | None = None,
    run_id: str | None = None,
) -> int:
    """Send one message listing the new critical warnings of a date not yet alerted; returns how many.

    result_or_date: a PublishResult (or its to_dict()), or the as_of_date (date or ISO string); the
    warnings are read from ratings.credit_warnings. Each warning sent is recorded in
    audit.alert_deliveries in the same transaction, under an advisory lock, so a rerun or a backfill
    of the date sends nothing twice. Initial episodes (conditions present on the first rated date)
    are never listed. Nothing is sent when there is nothing new. notifier: any Airflow BaseNotifier
    taking (subject, html) through `build`; by default an SmtpNotifier on the connection smtp_conn_id
    (config warnings.yml `alerting`).
    """
    cfg = _alerting_config()
    as_of_date = _as_of_date(result_or_date)
    severity = str(cfg.get("severity", "critical"))
    recipients = to or cfg.get("to") or []
    with transaction(url or connection_url(WAREHOUSE)) as cur:
        cur.execute(queries("alerts")["lock"], {"key": ALERT_LOCK_KEY})
        warnings = undelivered(cur, episodes_opened(cur, as_of_date, severity), CHANNEL)
        if not warnings:
            return 0
        subject, body = build_message(as_of_date, warnings, int(cfg.get("max_listed", 50)))
        if notifier is None:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            notifier = SmtpNotifier(
                to=recipients,
                from_email=cfg.get("from_email"),
                subject=subject,
                html_content=body,
                smtp_conn_id=smtp_conn_id or cfg.get("smtp_conn_id", "smtp_default"),
            )
        elif callable(getattr(notifier, "build", None)):
            notifier = notifier.build(subject=subject, html_content=body)
        cur.executemany(
            queries("alerts")["record_delivery"],
            [
                {
                    "warning_id": int(w["warning_id"]),
                    "channel": CHANNEL,
                    "d": as_of_date,
                    "recipients": ", ".join([recipients] if isinstance(recipients, str) else recipients),
                    "subject": subject,
                    "run": run_id,
                }
                for w in warnings
            ],
        )
        # BaseNotifier.__call__(context) renders template fields, then notify(context) sends; a failure
        # rolls the delivery rows back, so the next run tries again.
        notifier(context if context is not None else {})
    return len(warnings)


def _as_of_date(result_or_date: Any) -> date:
    if isinstance(result_or_date, date):
        return result_or_date
    if isinstance(result_or_date, str):
        return date.fromisoformat(result_or_date)
    data = result_or_date if isinstance(result_or_date, dict) else result_or_date.to_dict()
    return date.fromisoformat(str(data["as_of_date"]))
