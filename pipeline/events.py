"""What the crm_credit_events DAG calls: turn the credit events since the last run into intraday re-ratings.

One run coalesces every message that arrived since the previous run (the Asset events it was triggered
by), then:
1. receive: each message is checked and stored in events.inbox, or in events.rejected_events with the
   reason (malformed, a required field missing, an unknown event type);
2. extract: every source table's rows changed since the watermark (events.source_watermarks, at least
   the end of the last loaded batch) are loaded as intraday batches by the daily loader (quarantine and
   audit counts alike). This is the reconciliation: a change whose message was lost is found here;
3. re-rate: the accounts whose rows changed, plus those the events name, get their features for the
   current date from the daily feature SQL (dbt, var rerate), are scored with @champion and published as
   intraday versions and warnings (ratings.intraday). Events naming an account the warehouse does not
   know are rejected now.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from common.config import load_config
from common.warehouse import WAREHOUSE, connect, connection_url, one_row, transaction
from pipeline.run_audit import recorded

DAG_ID = "crm_credit_events"
MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Event:
    """A credit event message that passed the checks."""

    event_id: str
    event_type: str
    account_id: str
    source_table: str
    source_key: str | None
    occurred_at: dt.datetime
    published_at: dt.datetime | None


class RejectedMessage(ValueError):
    """A message that cannot be used; the text is the reason stored with it."""


def _config() -> dict[str, Any]:
    return load_config("events")


def _timestamp(value: Any, name: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise RejectedMessage(f"{name} is not an ISO timestamp: {value!r}") from exc
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


def message_text(message: Any) -> str:
    """The message body: the trigger's payload carries it as `data`; tests and tools may pass it bare."""
    if isinstance(message, dict) and "data" in message:
        message = message["data"]
    if isinstance(message, bytes):
        return message.decode("utf-8", errors="replace")
    return message if isinstance(message, str) else json.dumps(message, default=str)


def parse_event(text: str, cfg: dict[str, Any] | None = None) -> Event:
    """A checked Event from a message body, or RejectedMessage with the reason."""
    cfg = cfg or _config()
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RejectedMessage(f"malformed JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(body, dict):
        raise RejectedMessage(f"a message must be a JSON object, got {type(body).__name__}")
    missing = [f for f in cfg["required_fields"] if body.get(f) in (None, "")]
    if missing:
        raise RejectedMessage(f"missing required field(s): {', '.join(missing)}")
    types = cfg["event_types"]
    if body["event_type"] not in types:
        raise RejectedMessage(
            f"unknown event_type {body['event_type']!r} (known: {', '.join(sorted(types))})"
        )
    return Event(
        event_id=str(body["event_id"]),
        event_type=str(body["event_type"]),
        account_id=str(body["account_id"]),
        source_table=str(types[body["event_type"]]),
        source_key=None if body.get("source_key") is None else str(body["source_key"]),
        occurred_at=_timestamp(body["occurred_at"], "occurred_at"),
        published_at=_timestamp(body["published_at"], "published_at") if body.get("published_at") else None,
    )


def _reject(cur: Any, event_id: str | None, reason: str, payload: str, run_id: str) -> None:
    cur.execute(
        "insert into events.rejected_events (event_id, reason, payload, run_id) values (%s, %s, %s, %s)",
        (event_id, reason, payload, run_id),
    )


def receive(messages: Iterable[Any], run_id: str, url: str = WAREHOUSE) -> dict[str, Any]:
    """Store the run's messages: each in events.inbox, or in events.rejected_events with the reason.

    A message received twice (same event_id) is stored once. Returns the counts and the accepted ids.
    """
    from common.migrate import migrate

    migrate(url)  # a fresh warehouse gets the events tables; applied migrations are skipped
    cfg = _config()
    accepted: list[str] = []
    rejected = 0
    with transaction(url) as cur:
        for message in messages:
            text = message_text(message)
            try:
                event = parse_event(text, cfg)
            except RejectedMessage as exc:
                event_id = _event_id_of(text)
                _reject(cur, event_id, str(exc), text, run_id)
                rejected += 1
                continue
            cur.execute(
                "insert into events.inbox (event_id, event_type, account_id, source_table, source_key,"
                " occurred_at, published_at, run_id) values (%s, %s, %s, %s, %s, %s, %s, %s)"
                " on conflict (event_id) do nothing",
                (
                    event.event_id,
                    event.event_type,
                    event.account_id,
                    event.source_table,
                    event.source_key,
                    event.occurred_at,
                    event.published_at,
                    run_id,
                ),
            )
            accepted.append(event.event_id)
    return {"accepted": len(accepted), "rejected": rejected, "event_ids": accepted}


def _event_id_of(text: str) -> str | None:
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return None
    return str(body["event_id"]) if isinstance(body, dict) and body.get("event_id") else None


# --- extraction by watermark ------------------------------------------------------------------------


def _loaded_until(cur: Any, qualified: str) -> dt.datetime | None:
    """Where the next intraday extraction of a table starts: its watermark, or the end of its newest batch."""
    cur.execute(
        "select greatest((select loaded_until from events.source_watermarks where source_table = %(t)s),"
        " (select max(interval_end) from audit.batch_counts where source_table = %(t)s))",
        {"t": qualified},
    )
    return one_row(cur)[0]


def _newest_change(source_url: str, schema: str, table: str, watermark: str, since: dt.datetime) -> Any:
    """The newest watermark value at or after `since` in a source table (None: nothing new)."""
    from psycopg2 import sql

    conn = connect(source_url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("select max({wm}) from {t} where {wm} >= %s and {wm} <= now()").format(
                    wm=sql.Identifier(watermark), t=sql.Identifier(schema, table)
                ),
                (since,),
            )
            return one_row(cur)[0]
    finally:
        conn.close()


def day_parts(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut at UTC midnights: an intraday batch never spans two daily intervals."""
    parts = []
    while start < end:
        midnight = dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        parts.append((start, min(end, midnight)))
        start = min(end, midnight)
    return parts


def extract_changes(run_id: str, url: str = WAREHOUSE) -> dict[str, Any]:
    """Load every sql source table's rows changed since its watermark as intraday batches; advance the
    watermarks. Returns the batches (their counts) and the newest change loaded.
    """
    from ingest.extract import extract_interval
    from ingest.sources import load_sources

    batches: list[dict[str, Any]] = []
    newest: dt.datetime | None = None
    for source in load_sources().values():  # crm before finance: finance rows reference accounts
        if source.kind != "sql":
            continue  # file drops arrive once a day: the daily run loads them
        source_url = connection_url(source.connection)
        for spec in source.tables:
            with transaction(url) as cur:
                since = _loaded_until(cur, spec.qualified)
            if since is None:
                continue  # never loaded: the initial load comes first
            changed = _newest_change(source_url, source.schema, spec.name, spec.watermark, since)
            if changed is None:
                continue
            until = changed.astimezone(dt.UTC) + MICROSECOND
            for start, end in day_parts(since, until):
                for result in extract_interval(
                    source.name, start, end, tables=[spec.name], intraday=True, verbose=False
                ):
                    batches.append(
                        {
                            "batch_id": result.batch_id,
                            "source_table": result.source_table,
                            "extracted": result.extracted,
                            "loaded": result.loaded,
                            "quarantined": result.quarantined,
                        }
                    )
            with transaction(url) as cur:
                cur.execute(
                    "insert into events.source_watermarks (source_table, loaded_until, run_id) values (%s, %s, %s)"
                    " on conflict (source_table) do update set loaded_until = excluded.loaded_until,"
                    " run_id = excluded.run_id, updated_at = now()",
                    (spec.qualified, until, run_id),
                )
            newest = max(newest, until - MICROSECOND) if newest else until - MICROSECOND
    return {"batches": batches, "newest_change": newest.isoformat() if newest else None}


# --- which accounts, for which date ------------------------------------------------------------------


def changed_accounts(cur: Any, batch_ids: list[str]) -> set[str]:
    """The CRM accounts whose raw rows the given batches loaded (config/events.yml account_columns)."""
    from psycopg2 import sql

    from ingest.sources import load_sources

    raw = {spec.qualified: spec for source in load_sources().values() for spec in source.tables}
    accounts: set[str] = set()
    for qualified, column in _config()["account_columns"].items():
        spec = raw[qualified]
        table = sql.Identifier(spec.raw_schema, spec.name)
        if isinstance(column, dict):
            via = raw[column["via"]]
            statement = sql.SQL(
                "select distinct v.{col} from {t} as r join {v} as v on v.{key} = r.{key}"
                " where r._batch_id = any(%s) and v.{col} is not null"
            ).format(
                col=sql.Identifier(column["column"]),
                t=table,
                v=sql.Identifier(via.raw_schema, via.name),
                key=sql.Identifier(column["key"]),
            )
        else:
            statement = sql.SQL(
                "select distinct {col} from {t} where _batch_id = any(%s) and {col} is not null"
            ).format(col=sql.Identifier(column), t=table)
        cur.execute(statement, (batch_ids,))
        accounts.update(str(r[0]) for r in cur.fetchall())
    return accounts


def rerate_date(
    latest_rated: dt.date | None, newest_change: dt.datetime | None, events: list[dt.datetime]
) -> dt.date:
    """The date an intraday re-rating rates: the day of the newest change or event, and always after
    every date the daily run has rated (those ratings are the record)."""
    moments = [m for m in [newest_change, *events] if m is not None]
    day = max(m.astimezone(dt.UTC).date() for m in moments) if moments else dt.datetime.now(dt.UTC).date()
    if latest_rated is not None and day <= latest_rated:
        day = latest_rated + dt.timedelta(days=1)
    return day


def rerate(
    run_id: str,
    event_ids: list[str],
    batch_ids: list[str],
    newest_change: dt.datetime | None,
    url: str = WAREHOUSE,
) -> dict[str, Any]:
    """Build the features of the changed and named accounts for the re-rating date, score and publish them.

    batch_ids: the intraday batches this run loaded; newest_change: the newest source change they hold.
    Events naming an account the warehouse has never loaded are moved to events.rejected_events.
    """
    from common.transform import build_lock, build_rerated_features
    from ratings.intraday import DateAlreadyRated, latest_rated_date, publish_intraday

    url = connection_url(url) if "://" not in url else url
    cfg = _config()
    with transaction(url) as cur:
        accounts = changed_accounts(cur, batch_ids)
        cur.execute(
            "select event_id, account_id, occurred_at, exists (select 1 from raw_crm.accounts as a"
            " where a.account_id = i.account_id) from events.inbox as i where event_id = any(%s)",
            (event_ids,),
        )
        named = cur.fetchall()
        unknown = [(e, a) for e, a, _, known in named if not known]
        for event_id, account in unknown:
            cur.execute(
                "insert into events.rejected_events (event_id, reason, payload, run_id)"
                " select event_id, %s, row_to_json(i)::text, %s from events.inbox as i where event_id = %s",
                (f"unknown customer: account {account!r} is not in the warehouse", run_id, event_id),
            )
            cur.execute("delete from events.inbox where event_id = %s", (event_id,))
        accounts.update(a for _, a, _, known in named if known)
    occurred = [o for _, _, o, known in named if known]
    day = rerate_date(latest_rated_date(url), newest_change, occurred)
    summary: dict[str, Any] = {
        "as_of_date": day.isoformat(),
        "accounts": len(accounts),
        "unknown_events": len(unknown),
    }
    if not accounts:
        return summary | {"rerated": 0}
    if len(accounts) > int(cfg["max_accounts_per_run"]):
        print(
            f"{len(accounts):,} accounts changed: more than max_accounts_per_run, left to the daily run",
            flush=True,
        )
        return summary | {"rerated": 0, "left_to_daily": len(accounts)}
    with build_lock(url):
        with transaction(url) as cur:
            cur.execute("truncate events.rerate_accounts")
            cur.execute("insert into events.rerate_accounts select unnest(%s::text[])", (sorted(accounts),))
        build_rerated_features(day, url)
    try:
        result = publish_intraday(day, run_id, url)
    except DateAlreadyRated as exc:
        print(f"not re-rated: {exc}", flush=True)
        return summary | {"rerated": 0, "superseded": str(exc)}
    return summary | result.to_dict() | {"rerated": result.customers}


# --- the DAG's tasks ----------------------------------------------------------------------------------


def receive_task(messages: list[Any], run_id: str) -> dict[str, Any]:
    """Task: store the messages of the run (inbox or rejected)."""
    with recorded(run_id, DAG_ID, "receive_events", None) as rec:
        result = receive(messages, run_id)
        rec.rows = result["accepted"]
        rec.detail = {k: v for k, v in result.items() if k != "event_ids"}
    return result


def extract_task(run_id: str) -> dict[str, Any]:
    """Task: extract the changes since the watermarks (intraday batches)."""
    with recorded(run_id, DAG_ID, "extract_changes", None) as rec:
        result = extract_changes(run_id)
        rec.rows = sum(b["loaded"] for b in result["batches"])
        rec.detail = result
    return result


def rerate_task(run_id: str, received: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any]:
    """Task: features, scores, intraday versions and warnings for the affected customers."""
    newest = extracted.get("newest_change")
    with recorded(run_id, DAG_ID, "rerate_customers", None) as rec:
        result = rerate(
            run_id,
            received["event_ids"],
            [b["batch_id"] for b in extracted["batches"] if b["loaded"]],
            dt.datetime.fromisoformat(newest) if newest else None,
        )
        rec.rows = int(result.get("rerated", 0))
        rec.detail = result
    return result
