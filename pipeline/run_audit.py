"""Record every task run in audit.pipeline_runs (status, rows, timings), idempotent per run and task."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from common.config import check_config_folder
from common.pseudonym import require_pseudonym_key
from common.warehouse import WAREHOUSE, transaction


class TaskRecord:
    """What a running task reports back: rows handled and free-form details."""

    def __init__(self) -> None:
        self.rows: int | None = None
        self.detail: dict[str, Any] = {}


@contextlib.contextmanager
def recorded(
    run_id: str, dag_id: str, task_id: str, as_of_date: date | None, url: str = WAREHOUSE
) -> Iterator[TaskRecord]:
    """Mark the task running, then success or failed (with the error) when the block ends.

    The config folder and the pseudonym key are checked first: a bad config file or a missing key
    fails the task before its first connection.
    """
    check_config_folder()
    require_pseudonym_key()
    _upsert(url, run_id, dag_id, task_id, as_of_date, "running", None, {})
    record = TaskRecord()
    try:
        yield record
    except BaseException as exc:
        _upsert(
            url,
            run_id,
            dag_id,
            task_id,
            as_of_date,
            "failed",
            record.rows,
            {**record.detail, "error": f"{type(exc).__name__}: {exc}"[:2000]},
        )
        raise
    _upsert(url, run_id, dag_id, task_id, as_of_date, "success", record.rows, record.detail)


def _upsert(
    url: str,
    run_id: str,
    dag_id: str,
    task_id: str,
    as_of_date: date | None,
    status: str,
    rows: int | None,
    detail: dict[str, Any],
) -> None:
    with transaction(url) as cur:
        cur.execute(
            """
            insert into audit.pipeline_runs
                (run_id, dag_id, task_id, as_of_date, status, rows, started_at, finished_at, detail)
            values (%s, %s, %s, %s, %s, %s, now(), case when %s = 'running' then null else now() end, %s)
            on conflict (run_id, dag_id, task_id) do update set
                status = excluded.status, rows = excluded.rows, detail = excluded.detail,
                finished_at = excluded.finished_at,
                started_at = case when excluded.status = 'running' then now()
                                  else audit.pipeline_runs.started_at end
            """,
            (run_id, dag_id, task_id, as_of_date, status, rows, status, json.dumps(detail, default=str)),
        )
