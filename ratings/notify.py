"""Alerting: the day's new critical warnings in one message through an Airflow notifier (SMTP default)."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from common.config import load_config
from common.warehouse import WAREHOUSE, connection_url, transaction
from ratings.episodes import episodes_opened


def _alerting_config() -> dict[str, Any]:
    return dict(load_config("warnings").get("alerting") or {})


def new_critical_warnings(
    as_of_date: date, url: str | None = None, severity: str | None = None
) -> list[dict]:
    """Warning episodes of the alerting severity that opened on as_of_date (read from the warehouse)."""
    severity = severity or str(_alerting_config().get("severity", "critical"))
    with transaction(url or connection_url(WAREHOUSE)) as cur:
        return episodes_opened(cur, as_of_date, severity)


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
) -> int:
    """Send one message listing the new critical warnings of a date; returns how many it listed.

    result_or_date: a PublishResult (or its to_dict()), or the as_of_date (date or ISO string), in
    which case the warnings are read from ratings.credit_warnings. Nothing is sent when there are
    none. notifier: any Airflow BaseNotifier taking (subject, html) through `build`; by default an
    SmtpNotifier on the connection smtp_conn_id (config warnings.yml `alerting`).
    """
    cfg = _alerting_config()
    as_of_date, warnings = _resolve(result_or_date, url)
    if not warnings:
        return 0
    subject, body = build_message(as_of_date, warnings, int(cfg.get("max_listed", 50)))
    if notifier is None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifier = SmtpNotifier(
            to=to or cfg.get("to") or [],
            from_email=cfg.get("from_email"),
            subject=subject,
            html_content=body,
            smtp_conn_id=smtp_conn_id or cfg.get("smtp_conn_id", "smtp_default"),
        )
    elif callable(getattr(notifier, "build", None)):
        notifier = notifier.build(subject=subject, html_content=body)
    # BaseNotifier.__call__(context) renders template fields, then notify(context) sends.
    notifier(context if context is not None else {})
    return len(warnings)


def _resolve(result_or_date: Any, url: str | None) -> tuple[date, list[dict]]:
    if isinstance(result_or_date, date):
        return result_or_date, new_critical_warnings(result_or_date, url)
    if isinstance(result_or_date, str):
        d = date.fromisoformat(result_or_date)
        return d, new_critical_warnings(d, url)
    data = result_or_date if isinstance(result_or_date, dict) else result_or_date.to_dict()
    return date.fromisoformat(str(data["as_of_date"])), list(data["new_critical_warnings"])
