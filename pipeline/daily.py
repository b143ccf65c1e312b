"""What each task of the daily DAG does: one function per task, explicit inputs, small JSON-able returns.

The DAG file only wires these together; they are also what tests and the demo call.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime, timedelta
from typing import Any

from common.warehouse import WAREHOUSE, WAREHOUSE_ADMIN, one_row
from pipeline.run_audit import recorded

log = logging.getLogger(__name__)

DAG_ID = "crm_credit_risk_daily"


def as_of_date(data_interval_end: datetime) -> date:
    """The day a run rates: the last full day of its data interval [D, D+1) -> D."""
    return (data_interval_end - timedelta(days=1)).date()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def prepare_warehouse(url: str = WAREHOUSE_ADMIN) -> list[str]:
    """Apply pending warehouse migrations (schemas, tables, roles) with the admin connection; with only
    the run-time login configured, check that none is pending."""
    from common.migrate import migrate

    return migrate(url)


class MissingPredecessor(RuntimeError):
    """The interval before this one was never loaded: features for this day would miss its rows."""


def require_predecessor(source: str, interval_start: datetime, url: str = WAREHOUSE) -> None:
    """Refuse a first load of [D, D+1) unless every table's previous interval (or the initial load)
    ends at D. A reload of an interval already loaded is always allowed.

    A snapshot for D is built from everything loaded up to D, so a range loaded for the first time must
    run forward: run backwards, D would be rated before D-1's changes had arrived.
    """
    from common.warehouse import transaction
    from ingest.sources import source_spec

    tables = [t.qualified for t in source_spec(source).tables]
    with transaction(url) as cur:
        cur.execute(
            """
            select count(distinct source_table) filter (where interval_end = %(start)s),
                   count(distinct source_table) filter (where interval_start = %(start)s)
            from audit.batch_counts where source_table = any(%(tables)s)
            """,
            {"start": interval_start, "tables": tables},
        )
        before, same = one_row(cur)
    if same == len(tables) or before == len(tables):
        return
    raise MissingPredecessor(
        f"{source}: no loaded interval ends at {interval_start:%Y-%m-%d %H:%M} for {len(tables) - before} of "
        f"{len(tables)} tables. Load the days before first (a new range runs forward: "
        "`airflow backfill create ... --max-active-runs 1`, without --run-backwards), or run the initial "
        "load (`python -m pipeline.bootstrap --as-of <first day>`)."
    )


def extract(source: str, interval_start: datetime, interval_end: datetime, run_id: str) -> list[dict]:
    """Extract one source system's tables for the interval into raw (COPY, quarantine, audit)."""
    from ingest.extract import extract_interval

    with recorded(run_id, DAG_ID, f"extract_{source}", as_of_date(interval_end)) as rec:
        require_predecessor(source, interval_start)
        results = _plain(extract_interval(source, interval_start, interval_end))
        rec.rows = sum(int(r.get("loaded", 0)) for r in results)
        rec.detail = {"batches": results}
    return results


def gate(stage: str, run_id: str, interval_start: datetime, interval_end: datetime) -> dict:
    """Run the GX gate of a stage; a critical failure raises and stops the run before scoring."""
    from expectations.gate import QualityGateFailed, run_gate

    day = as_of_date(interval_end)
    with recorded(run_id, DAG_ID, f"gate_{stage}", day) as rec:
        kwargs: dict[str, Any] = {"run_id": run_id}
        if stage.startswith("raw"):
            kwargs.update(interval_start=interval_start, interval_end=interval_end)
        else:
            kwargs.update(as_of_date=day)
        try:
            result = _plain(run_gate(stage, **kwargs))
        except QualityGateFailed as exc:
            from airflow.sdk.exceptions import AirflowFailException

            # Retrying cannot fix the data: fail now, without retries, with the gate's message.
            raise AirflowFailException(str(exc)) from exc
        rec.detail = result if isinstance(result, dict) else {"result": result}
    return rec.detail


def build_features(day: date, run_id: str) -> str:
    """dbt: staging -> intermediate -> the feature snapshot and labels for one as-of date."""
    from common.transform import build_snapshot

    with recorded(run_id, DAG_ID, "build_features", day):
        build_snapshot(day)
    return day.isoformat()


def refresh_desk(day: date, run_id: str) -> dict:
    """After publishing: the credit desk's exposure snapshot and its cases for the day's review/hold
    decisions and new critical warnings. Runs the desk's own command (`python -m desk after-publish`,
    one transaction as the warehouse owner): the pipeline never imports the desk, which sits on top of
    the ratings. A rerun refreshes the same rows and opens no case twice."""
    import json
    import subprocess
    import sys

    from common.paths import REPO_ROOT

    with recorded(run_id, DAG_ID, "refresh_desk", day) as rec:
        done = subprocess.run(
            [sys.executable, "-m", "desk", "after-publish"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"python -m desk after-publish failed: {done.stderr.strip()[-2000:]}")
        rec.detail = json.loads(done.stdout.strip().splitlines()[-1])
    return rec.detail


class NoChampion(RuntimeError):
    """The registry has no @champion: nothing can be scored until credit_model_training provides one."""


def check_champion(day: date, run_id: str) -> dict:
    """Refuse to score without a @champion; models come only from the credit_model_training DAG.

    Fails without retries (waiting does not create a model) and says what to do.
    """
    from ml.registry import CHAMPION, alias_version, champion_exists, guard_champion
    from ml.tracking import model_name

    with recorded(run_id, DAG_ID, "check_champion", day) as rec:
        if not champion_exists():
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"no @{CHAMPION} version of {model_name()} in the MLflow registry, so nothing is scored for "
                f"{day}. Train one with the credit_model_training DAG (`airflow dags trigger "
                "credit_model_training`; its first version passing the minimum bars becomes the champion) "
                "or promote a version (`python -m ml.cli models promote VERSION --reason ...`), then "
                "rerun this date."
            ) from NoChampion(model_name())
        outside = guard_champion(actor=f"{DAG_ID} {run_id}")
        if outside is not None:
            log.warning("@%s moved outside ml.cli: %s", CHAMPION, outside["reason"])
        rec.detail = {"champion": alias_version(CHAMPION)}
        if outside is not None:
            rec.detail["outside_promotion"] = outside
    return rec.detail


def matured_cohorts(day: date, url: str = WAREHOUSE) -> list[str]:
    """Feature snapshots whose default horizon ended on `day`: new labelled data for training."""
    from common.warehouse import transaction

    with transaction(url) as cur:
        cur.execute(
            "select distinct as_of_date from marts.customer_default_labels "
            "where horizon_end_date = %(d)s order by 1",
            {"d": day},
        )
        return [r[0].isoformat() for r in cur.fetchall()]


def announce_matured_labels(day: date) -> dict:
    """Emit the labelled-snapshots Asset (which schedules training) only when a cohort matured on `day`.

    A skipped task emits no Asset event, so training is not triggered on the other days; the training
    DAG's weekly schedule is the safety net for a day that was never run.
    """
    cohorts = matured_cohorts(day)
    if not cohorts:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"no labelled cohort matured on {day}")
    return {"matured_cohorts": cohorts}


def plan_scoring(day: date, run_id: str) -> list[int]:
    """Resolve @champion once and plan the day's scoring in config/model.yml scoring.partitions hash
    partitions (ratings.partitions); returns the partition numbers the score_partition tasks map over."""
    from common.warehouse import connection_url
    from ml.registry import load_champion
    from ratings.partitions import configured_partitions
    from ratings.partitions import plan_scoring as plan

    with recorded(run_id, DAG_ID, "plan_scoring", day) as rec:
        champion = load_champion(with_model=False)
        planned = plan(connection_url(WAREHOUSE), day, run_id, champion, configured_partitions())
        rec.detail = {"partitions": planned.partitions, "model_version": planned.model_version}
    return planned.numbers()


def score_partition(day: date, run_id: str, partition: int) -> dict:
    """Score one partition of the day with the planned model version and stage it (ratings_stage)."""
    from common.warehouse import connection_url
    from ml.registry import load_champion
    from ratings.partitions import planned_version, stage_partition

    url = connection_url(WAREHOUSE)
    with recorded(run_id, DAG_ID, f"score_partition[{partition}]", day) as rec:
        champion = load_champion(planned_version(url, day, run_id))
        staged = stage_partition(url, day, run_id, partition, champion)
        rec.rows = staged.rows
        rec.detail = {"partition": partition, "model_version": champion.version, **dataclasses.asdict(staged)}
    return rec.detail


def publish(day: date, run_id: str) -> dict:
    """Once every partition is staged: gate the staged ratings and publish ratings, warnings and
    monitoring in one transaction (task score_and_publish)."""
    from common.warehouse import connection_url
    from expectations.gate import run_gate
    from ratings.maintenance import reclaim_dead_rows
    from ratings.publish import publish_partitions

    def ratings_gate(**kwargs: Any) -> Any:
        return run_gate("ratings", as_of_date=day, run_id=run_id, **kwargs)

    with recorded(run_id, DAG_ID, "score_and_publish", day) as rec:
        result = _plain(publish_partitions(day, run_id, gate=ratings_gate))
        # dead rows of the publish: VACUUM where the server's autovacuum is off (ratings.maintenance)
        result["reclaimed"] = reclaim_dead_rows(connection_url(WAREHOUSE))
        rec.rows = int(result.get("rows_scored", 0))
        rec.detail = result
    return result


def score(day: date, run_id: str) -> dict:
    """plan_scoring, every score_partition and score_and_publish in this process, one after the other
    (what the DAG's scoring tasks do on workers; for the demo, benchmarks and tests)."""
    for partition in plan_scoring(day, run_id):
        score_partition(day, run_id, partition)
    return publish(day, run_id)


def shadow(day: date, run_id: str) -> dict:
    """Score the snapshot with @challenger in shadow (model_shadow.scores; never published to BI)."""
    from ratings.shadow import score_challenger

    with recorded(run_id, DAG_ID, "shadow_score_challenger", day) as rec:
        result = score_challenger(day, run_id)
        rec.rows = result.rows
        rec.detail = result.to_dict()
    return result.to_dict()


def _smtp_configured(conn_id: str) -> bool:
    import os

    if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
        return True
    try:
        from airflow.sdk import BaseHook

        BaseHook.get_connection(conn_id)
        return True
    except Exception:  # noqa: BLE001 - any lookup failure means: not configured
        return False


def alert(day: date, run_id: str) -> int:
    """Send the day's new critical warnings not yet alerted in one message; returns how many it listed.

    Initial episodes (conditions already present on the first rated date) are counted, not listed.
    Without an SMTP connection (a local run) the count is logged instead of sent, and the audit row
    says so: the warnings are in ratings.credit_warnings either way.
    """
    from common.config import load_config
    from common.warehouse import connection_url, transaction
    from ratings.episodes import opened_counts
    from ratings.notify import send_new_critical_warnings

    cfg = load_config("warnings").get("alerting") or {}
    conn_id = cfg.get("smtp_conn_id", "smtp_default")
    with recorded(run_id, DAG_ID, "alert_critical_warnings", day) as rec:
        with transaction(connection_url(WAREHOUSE)) as cur:
            new, initial = opened_counts(cur, day, str(cfg.get("severity", "critical")))
        if _smtp_configured(conn_id):
            rec.rows = int(send_new_critical_warnings(day, run_id=run_id))
            rec.detail = {
                "sent": rec.rows > 0,
                "new": new,
                "initial": initial,
                "already_sent": new - rec.rows,
            }
        else:
            rec.rows = new
            rec.detail = {
                "sent": False,
                "new": new,
                "initial": initial,
                "reason": f"no connection {conn_id!r}: alert logged, not e-mailed",
            }
            print(
                f"{new} new critical warning(s) for {day} ({initial} initial, not alerted); connection "
                f"{conn_id!r} is not configured, so no e-mail was sent",
                flush=True,
            )
    return rec.rows
