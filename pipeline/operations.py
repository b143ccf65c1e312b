"""What the DAGs declare about themselves for operations: their Assets, failure notifier, deadline.

Kept out of the DAG files so both DAGs share one definition of each Asset and of the operations
e-mail, and so the settings come from `config/warnings.yml` (`alerting`) rather than from code.
Light imports only: this module is imported while the DAG files are parsed.
"""

from __future__ import annotations

import os
from datetime import time, timedelta
from typing import Any

from airflow.sdk import Asset

# Also exported by airflow.sdk, whose lazy exports mypy cannot see; the defining modules are the same classes.
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from common.config import load_config

# The warehouse objects the pipeline produces, as Airflow Assets: the lineage in the Airflow UI and what
# other DAGs can be scheduled on. URIs name the warehouse relation: warehouse://<schema>/<table>.
FEATURE_SNAPSHOT = Asset(
    name="customer_features",
    uri="warehouse://marts/customer_features",
    group="credit_risk",
)
RATINGS = Asset(
    name="customer_ratings",
    uri="warehouse://ratings/customer_ratings",
    group="credit_risk",
)
# Emitted only on a day a feature snapshot's default horizon ended: new labelled data to train on.
LABELLED_SNAPSHOTS = Asset(
    name="customer_default_labels",
    uri="warehouse://marts/customer_default_labels",
    group="credit_risk",
)
CREDIT_MODEL = Asset(name="crm_credit_pd", uri="mlflow://registry/models/crm_credit_pd", group="credit_risk")


CHANNEL_OVERRIDE = "CREDIT_EVENTS_CHANNEL"


def credit_events_channel() -> str:
    """The Redis channel of the credit events: config/events.yml `channel`, or CREDIT_EVENTS_CHANNEL
    (a test or a second environment on one Redis: pub/sub channels are shared by every database)."""
    return os.environ.get(CHANNEL_OVERRIDE) or str(load_config("events")["channel"])


def credit_events_asset() -> Asset:
    """The credit events the source systems publish on Redis (config/events.yml), watched by the triggerer.

    Every message becomes an Asset event (its body in the event's extra, `payload.data`), which schedules
    crm_credit_events. Redis pub/sub keeps no message while nobody subscribes: the DAG reconciles by
    source watermark, so a lost message only delays a re-rating.
    """
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
    from airflow.sdk import AssetWatcher

    cfg = load_config("events")
    trigger = MessageQueueTrigger(
        scheme="redis+pubsub",
        channels=[credit_events_channel()],
        redis_conn_id=str(cfg["connection"]),
        poll_interval=float(cfg.get("poll_interval_seconds", 1)),
    )
    return Asset(
        name="credit_events",
        uri=f"redis+pubsub://{cfg['connection']}/{credit_events_channel()}",
        group="credit_risk",
        watchers=[AssetWatcher(name="credit_events_watcher", trigger=trigger)],
    )


def alerting() -> dict[str, Any]:
    """The `alerting` section of config/warnings.yml."""
    return dict(load_config("warnings").get("alerting") or {})


def operations_recipients(cfg: dict[str, Any] | None = None) -> list[str]:
    """Who hears about failed runs and missed deadlines: `operations_to`, else the credit team (`to`)."""
    cfg = alerting() if cfg is None else cfg
    to = cfg.get("operations_to") or cfg.get("to") or []
    return [to] if isinstance(to, str) else list(to)


def _notifier_kwargs(subject: str, body: str) -> dict[str, Any]:
    cfg = alerting()
    return {
        "to": operations_recipients(cfg),
        "from_email": cfg.get("from_email"),
        "smtp_conn_id": cfg.get("smtp_conn_id", "smtp_default"),
        "subject": subject,
        "html_content": body,
    }


def failure_notifier() -> Any:
    """A DAG-level on_failure_callback: one e-mail naming the DAG, the run and the failed task."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        **_notifier_kwargs(
            subject="[credit-risk] {{ dag.dag_id }} failed for {{ ds }}",
            body=(
                "<p>Run <b>{{ run_id }}</b> of <b>{{ dag.dag_id }}</b> failed"
                "{% if ti %} in task <b>{{ ti.task_id }}</b> (try {{ ti.try_number }}){% endif %}.</p>"
                "<p>Data interval: {{ data_interval_start }} to {{ data_interval_end }}. "
                "The data engineer's runbook (docs/runbooks/data-engineer.md) says how to rerun it; a rerun replaces the same rows.</p>"
            ),
        )
    )


# `airflow dags test` (Dag.test) in Airflow 3.3.2 cannot finish a run of a DAG that has a deadline: it
# builds its scheduler DAG from the in-memory definition, whose deadlines are not yet the database ids
# the success path looks up (AttributeError "'dict' object has no attribute 'hex'" after every task
# succeeded). The one-process paths (the demo, the tests, `make airflow-env`) set this variable to `off`;
# the scheduler, the DAG processor and docker-compose never do.
DEADLINE_SWITCH = "CRM_RISK_DEADLINE_ALERTS"


def deadline_alerts_enabled() -> bool:
    return os.environ.get(DEADLINE_SWITCH, "on").strip().lower() not in {"off", "0", "false", "no"}


def publish_deadline(interval_days: int = 1) -> DeadlineAlert | None:
    """'Ratings not published by HH:MM UTC' (config `alerting.publish_by_utc`, default 06:00).

    A daily run for the data interval [D, D+1) has logical date D and starts at D+1 00:00; its
    deadline is D+1 at the configured time, i.e. the logical date plus one day plus that time.
    The callback runs in the triggerer and sends one e-mail through the same SMTP connection.
    None when deadline alerts are switched off for a one-process `dags test` run (see DEADLINE_SWITCH).
    """
    if not deadline_alerts_enabled():
        return None
    cfg = alerting()
    by = time.fromisoformat(str(cfg.get("publish_by_utc", "06:00")))
    interval = timedelta(days=interval_days, hours=by.hour, minutes=by.minute)
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=interval,
        callback=AsyncCallback(
            SmtpNotifier,
            kwargs=_notifier_kwargs(
                subject=f"[credit-risk] ratings not published by {by:%H:%M} UTC",
                body=(
                    f"<p>The daily run had not published ratings by {by:%H:%M} UTC. Sales' credit checks "
                    "and the BI views still show the previous day's ratings. See docs/runbooks/data-engineer.md.</p>"
                ),
            ),
        ),
    )
