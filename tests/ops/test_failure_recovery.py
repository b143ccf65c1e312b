"""Real faults in the daily run leave the warehouse as it was, and a rerun reaches the clean state.

Each victim task runs in a child process (as an Airflow task would) and is stopped at a known point
inside its write transaction: a second connection holds a lock the task's next statement needs, the
test waits until pg_stat_activity shows the task's backend waiting on exactly that statement, then
kills the process (SIGKILL, no cleanup) or terminates its backend (pg_terminate_backend). Nothing is
mocked and nothing waits on a timer. The state compared is the content of the affected tables for the
date or batch: raw rows without _extracted_at, quarantine and audit counts, the feature snapshot, the
ratings without scored_at / run_id, monitoring, warning observations and episodes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from common.config import load_config
from common.paths import REPO_ROOT
from common.warehouse import connect, transaction
from ingest.load import batch_id_for
from ingest.sources import source_spec
from tests.helpers.book import AS_OF, NEXT_DAY, Book, midnight, rated_book

pytestmark = pytest.mark.slow

EXTRACT = """
import sys, datetime as dt
from pipeline import daily
daily.extract(sys.argv[1], dt.datetime.fromisoformat(sys.argv[2]), dt.datetime.fromisoformat(sys.argv[3]), sys.argv[4])
"""
BUILD_FEATURES = """
import sys, datetime as dt
from pipeline import daily
daily.build_features(dt.date.fromisoformat(sys.argv[1]), sys.argv[2])
"""
SCORE = """
import sys, datetime as dt
from pipeline import daily
daily.score(dt.date.fromisoformat(sys.argv[1]), sys.argv[2])
"""


# --- state of the affected tables -----------------------------------------------------------------

def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with transaction(url) as cur:
        cur.execute(query, params)
        return sorted(cur.fetchall(), key=repr)


def raw_batches(url: str, start: dt.datetime) -> dict[str, list[tuple]]:
    """Every raw table's rows of the batches starting at `start` (source columns and batch keys),
    their quarantined rows and their audit counts."""
    state = {}
    for source in ("crm", "finance"):
        for table in source_spec(source).tables:
            cols = ", ".join([*table.columns, "_batch_id", "_interval_end"])
            state[table.raw_table] = _rows(url, f"select {cols} from {table.raw_table} where _interval_start = %s",
                                           (start,))
    state["quarantine"] = _rows(url, "select batch_id, source_table, rule, reason, row_data::text, interval_end "
                                     "from quarantine.rejected_rows where interval_start = %s", (start,))
    state["audit"] = _rows(url, "select batch_id, source_table, interval_end, extracted, loaded, quarantined "
                                "from audit.batch_counts where interval_start = %s", (start,))
    return state


def snapshot(url: str, day: dt.date) -> dict[str, list[tuple]]:
    """The feature snapshot of `day` and every label row."""
    return {
        "features": _rows(url, "select * from marts.customer_features where as_of_date = %s", (day,)),
        "labels": _rows(url, "select * from marts.customer_default_labels"),
    }


def ratings(url: str, day: dt.date) -> dict[str, list[tuple]]:
    """What BI sees for `day` (run ids and timestamps left out) plus every warning episode."""
    return {
        "ratings": _rows(url, "select customer_id, pd_12m, score, rating_grade, risk_segment, current_credit_limit,"
                              " recommended_credit_limit, decision, decision_rationale, reason_codes, model_name,"
                              " model_version from ratings.customer_ratings where as_of_date = %s", (day,)),
        "monitoring": _rows(url, "select model_name, model_version, rows_scored, grade_distribution::text, psi,"
                                 " backtest::text, scale_version from ratings.model_monitoring"
                                 " where as_of_date = %s", (day,)),
        "episodes": _rows(url, "select customer_id, rule_code, severity, metric_value, threshold, message,"
                               " first_seen_date, last_seen_date, status, resolved_date, first_metric_value,"
                               " first_message from ratings.credit_warnings"),
        "scale": _rows(url, "select grade, grade_rank, pd_lower, pd_upper, version from ratings.rating_master_scale"),
    }


def _scalar(url: str, query: str, params: tuple = ()) -> object:
    with transaction(url) as cur:
        cur.execute(query, params)
        return cur.fetchone()[0]


def task_status(url: str, run_id: str, task_id: str) -> tuple[str, str]:
    with transaction(url) as cur:
        cur.execute("select status, coalesce(detail->>'error', '') from audit.pipeline_runs"
                    " where run_id = %s and task_id = %s", (run_id, task_id))
        return cur.fetchone()


def forget_batches(url: str, start: dt.datetime) -> None:
    """Back to the state before the first run of the interval starting at `start`."""
    with transaction(url) as cur:
        for source in ("crm", "finance"):
            for table in source_spec(source).tables:
                cur.execute(f"delete from {table.raw_table} where _interval_start = %s", (start,))
        cur.execute("delete from quarantine.rejected_rows where interval_start = %s", (start,))
        cur.execute("delete from audit.batch_counts where interval_start = %s", (start,))


# --- fault injection ------------------------------------------------------------------------------

@contextlib.contextmanager
def victim(code: str, *args: str, log: Path) -> Iterator[subprocess.Popen]:
    """A task process (own process group, so dbt's subprocess dies with it) with the test's environment."""
    with open(log, "w") as out:
        child = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO_ROOT, env=dict(os.environ),
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield child
        finally:
            kill_group(child)


def kill_group(child: subprocess.Popen) -> None:
    """SIGKILL the task and everything it started: no cleanup, no rollback from the client."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)


@contextlib.contextmanager
def holding(url: str, *statements: str, params: tuple = ()) -> Iterator[psycopg2.extensions.connection]:
    """A connection that runs `statements` in an open transaction (locks held) until the block ends."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement, params if "%s" in statement else None)
        yield conn
    finally:
        conn.rollback()
        conn.close()


def waiting_backend(url: str, query_like: str, child: subprocess.Popen, log: Path, timeout: float = 240) -> int:
    """The pid of the backend that waits on a lock while running a statement like `query_like`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _scalar(url, "select max(pid) from pg_stat_activity where datname = current_database()"
                           " and pid <> pg_backend_pid() and wait_event_type = 'Lock' and query ilike %s",
                      (query_like,))
        if pid:
            return int(pid)
        if child.poll() is not None:
            pytest.fail(f"the task ended (exit {child.returncode}) before reaching {query_like!r}:\n"
                        + log.read_text()[-3000:])
        time.sleep(0.1)
    pytest.fail(f"no backend waited on {query_like!r} within {timeout}s:\n" + log.read_text()[-3000:])


def holds_write_lock(url: str, pid: int, table: str) -> bool:
    return bool(_scalar(url, "select count(*) from pg_locks where pid = %s and relation = %s::regclass"
                             " and mode = 'RowExclusiveLock' and granted", (pid, table)))


def wait_until_gone(url: str, pids: set[int] | None = None, application: str | None = None,
                    timeout: float = 60) -> None:
    """Until the killed task's backends (these pids, or this application's) have ended and rolled back."""
    deadline = time.monotonic() + timeout
    query = ("select count(*) from pg_stat_activity where datname = current_database()"
             " and pid <> pg_backend_pid() and (pid = any(%s) or application_name = %s)")
    params = (list(pids or ()), application)
    while _scalar(url, query, params):
        assert time.monotonic() < deadline, "the killed task's backend is still there"
        time.sleep(0.1)


def inject(fault: str, url: str, child: subprocess.Popen, pid: int, blocker: psycopg2.extensions.connection) -> None:
    """Kill the task process, or drop its warehouse connection, then release the blocking lock."""
    if fault == "sigkill":
        kill_group(child)
    else:
        assert _scalar(url, "select pg_terminate_backend(%s)", (pid,)) is True
        assert child.wait(timeout=120) != 0
    blocker.rollback()  # a backend whose client died runs on until its next read, then aborts
    wait_until_gone(url, {pid})


# --- the book ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def book(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    with rated_book(admin_url, tmp_path_factory.mktemp("recovery")) as rated:
        yield rated


@pytest.fixture(scope="module")
def clean(book: Book) -> dict:
    """The state a clean run reaches: the rated day, plus the next day's finance batches (extracted
    once cleanly, recorded, then removed again as if that interval had never run)."""
    from pipeline import daily

    url = book.dbs.warehouse
    daily.extract("finance", midnight(NEXT_DAY), midnight(NEXT_DAY + dt.timedelta(days=1)), "clean_next_day")
    next_day = raw_batches(url, midnight(NEXT_DAY))
    forget_batches(url, midnight(NEXT_DAY))
    state = {"raw": raw_batches(url, midnight(AS_OF)), "marts": snapshot(url, AS_OF),
             "ratings": ratings(url, AS_OF), "next_day": next_day}
    assert sum(len(v) for v in state["raw"].values()) > 10
    assert len(next_day["raw_finance.invoices"]) > 0 and len(next_day["audit"]) == 7
    assert len(state["marts"]["features"]) > 150 and len(state["ratings"]["ratings"]) > 150
    return state


# --- the faults -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["sigkill", "terminate"])
def test_extract_killed_after_copy_leaves_no_partial_batch_and_rerun_loads_the_clean_batch(
        book: Book, clean: dict, fault: str, tmp_path: Path) -> None:
    url, start, end = book.dbs.warehouse, midnight(NEXT_DAY), midnight(NEXT_DAY + dt.timedelta(days=1))
    finance = source_spec("finance")
    invoices = batch_id_for(finance.table("invoices"), start, end)
    before = raw_batches(url, start)
    assert before["audit"] == [] and before["raw_finance.invoices"] == []
    run_id = f"killed_extract_{fault}"
    log = tmp_path / "extract.log"
    # an uncommitted audit row with the batch's key: the loader COPYs every row, then waits on the key
    with holding(url, "insert into audit.batch_counts (batch_id, source_table, interval_start, interval_end,"
                      " extracted, loaded, quarantined) values (%s, 'finance.invoices', %s, %s, 0, 0, 0)",
                 params=(invoices, start, end)) as blocker, \
            victim(EXTRACT, "finance", start.isoformat(), end.isoformat(), run_id, log=log) as child:
        pid = waiting_backend(url, "insert into audit.batch_counts%", child, log)
        assert holds_write_lock(url, pid, "raw_finance.invoices")  # the rows are in, uncommitted
        inject(fault, url, child, pid, blocker)

    assert raw_batches(url, start) == before
    status, error = task_status(url, run_id, "extract_finance")
    if fault == "sigkill":
        assert status == "running"  # nothing ran after the kill; Airflow marks the task failed
    else:
        assert status == "failed" and "server closed the connection" in error, error

    from pipeline import daily

    daily.extract("finance", start, end, run_id)  # the retry
    assert raw_batches(url, start) == clean["next_day"]
    assert task_status(url, run_id, "extract_finance")[0] == "success"
    forget_batches(url, start)


def test_dbt_killed_while_replacing_the_snapshot_leaves_the_marts_and_rerun_rebuilds_them(
        book: Book, clean: dict, tmp_path: Path) -> None:
    url = book.dbs.warehouse
    assert snapshot(url, AS_OF) == clean["marts"]
    # make one customer's row of D missing (committed), so that a half-done rebuild would show
    with transaction(url) as cur:
        cur.execute("create table public.held_row as select * from marts.customer_features"
                    " where as_of_date = %s order by customer_id desc limit 1", (AS_OF,))
        cur.execute("delete from marts.customer_features f using public.held_row h"
                    " where f.customer_id = h.customer_id and f.as_of_date = h.as_of_date")
    before = snapshot(url, AS_OF)
    assert len(before["features"]) == len(clean["marts"]["features"]) - 1
    log = tmp_path / "dbt.log"
    try:
        # the same key, inserted uncommitted: dbt deletes D's rows, then its insert waits on that key
        with holding(url, "insert into marts.customer_features select * from public.held_row") as blocker, \
                victim(BUILD_FEATURES, AS_OF.isoformat(), "killed_dbt", log=log) as child:
            pid = waiting_backend(url, "%insert into%customer_features%", child, log)
            assert holds_write_lock(url, pid, "marts.customer_features")
            kill_group(child)  # the task and its dbt subprocess
            blocker.rollback()
            wait_until_gone(url, {pid})
        wait_until_gone(url, application="dbt")  # dbt's other threads' connections too
    finally:
        with transaction(url) as cur:
            cur.execute("drop table public.held_row")

    assert snapshot(url, AS_OF) == before
    assert task_status(url, "killed_dbt", "build_features")[0] == "running"

    from pipeline import daily

    daily.build_features(AS_OF, "killed_dbt")
    assert snapshot(url, AS_OF) == clean["marts"]


def test_scoring_partition_killed_mid_copy_leaves_nothing_and_is_retried_alone(
        book: Book, clean: dict, tmp_path: Path) -> None:
    url = book.dbs.warehouse
    before = ratings(url, AS_OF)
    assert before == clean["ratings"]
    first = _scalar(url, "select min(customer_id) from marts.customer_features where as_of_date = %s", (AS_OF,))
    partitions = load_config("model")["scoring"]["partitions"]
    killed = _scalar(url, "select ratings_stage.scoring_partition(%s, %s)", (first, partitions))
    run_id = "killed_scoring"
    log = tmp_path / "score.log"
    # an uncommitted staged row with the run's key for the first customer: its partition's COPY waits on it
    with holding(url, "insert into ratings_stage.customer_ratings (customer_id, as_of_date, pd_12m, score,"
                      " rating_grade, risk_segment, recommended_credit_limit, decision, decision_rationale,"
                      " model_name, model_version, run_id, scored_at) values (%s, %s, 0.5, 1, 'B', 'high', 0,"
                      " 'hold', 'blocker', 'm', '0', %s, now())", params=(first, AS_OF, run_id)) as blocker, \
            victim(SCORE, AS_OF.isoformat(), run_id, log=log) as child:
        pid = waiting_backend(url, "copy%ratings_stage%customer_ratings%", child, log)
        inject("sigkill", url, child, pid, blocker)

    assert ratings(url, AS_OF) == before
    # the killed partition left nothing; partitions staged before it stay staged (private to the run)
    in_killed = "where ratings_stage.scoring_partition(customer_id, %s) = %s"
    assert _scalar(url, f"select count(*) from ratings_stage.customer_ratings {in_killed}", (partitions, killed)) == 0
    assert _scalar(url, f"select count(*) from ratings_stage.warning_observations {in_killed}",
                   (partitions, killed)) == 0
    staged = {p for (p,) in _rows(url, "select partition_no from ratings_stage.scoring_partitions"
                                       " where run_id = %s and staged_at is not null", (run_id,))}
    assert killed not in staged and staged < set(range(partitions))

    from pipeline import daily

    with pytest.raises(RuntimeError, match=rf"partitions of {AS_OF} \(run {run_id}\) are not staged: .*{killed}"):
        daily.publish(AS_OF, run_id)  # nothing is published while a partition is missing
    assert ratings(url, AS_OF) == before
    for partition in sorted(set(range(partitions)) - staged):  # what Airflow retries: the failed partitions only
        daily.score_partition(AS_OF, run_id, partition)
    daily.publish(AS_OF, run_id)
    assert ratings(url, AS_OF) == clean["ratings"]
    assert _scalar(url, "select count(*) from ratings_stage.customer_ratings") == 0


@pytest.mark.parametrize("fault", ["sigkill", "terminate"])
def test_write_back_interrupted_inside_the_publish_transaction_leaves_the_published_ratings(
        book: Book, clean: dict, fault: str, tmp_path: Path) -> None:
    url = book.dbs.warehouse
    before = ratings(url, AS_OF)
    assert before == clean["ratings"]
    run_id = f"killed_publish_{fault}"
    log = tmp_path / "publish.log"
    # ratings, scale, segments and monitoring of D are replaced; the episodes' first delete waits here
    with holding(url, "lock table ratings.credit_warnings in share mode") as blocker, \
            victim(SCORE, AS_OF.isoformat(), run_id, log=log) as child:
        pid = waiting_backend(url, "%delete from ratings.credit_warnings%", child, log)
        assert holds_write_lock(url, pid, "ratings.customer_rating_versions")
        assert holds_write_lock(url, pid, "ratings.model_monitoring")
        inject(fault, url, child, pid, blocker)

    assert ratings(url, AS_OF) == before
    status, error = task_status(url, run_id, "score_and_publish")
    assert status == ("running" if fault == "sigkill" else "failed")
    assert fault == "sigkill" or "server closed the connection" in error, error
    # the staged rows were committed before the publish began: private, replaced by the rerun of D
    assert _scalar(url, "select count(*) from ratings_stage.customer_ratings where run_id = %s", (run_id,)) > 0

    from pipeline import daily

    daily.score(AS_OF, run_id)
    assert ratings(url, AS_OF) == clean["ratings"]
    assert _scalar(url, "select count(*) from ratings_stage.customer_ratings") == 0


def test_a_source_that_times_out_fails_the_extract_cleanly_and_a_retry_loads_the_clean_batches(
        book: Book, clean: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.connectors import SourceUnavailable
    from pipeline import daily

    url, start, end = book.dbs.warehouse, midnight(AS_OF), midnight(NEXT_DAY)
    before = raw_batches(url, start)
    assert before == clean["raw"]
    # the deployment bounds source reads with a statement timeout in the connection URL
    monkeypatch.setenv("AIRFLOW_CONN_CRM_SOURCE",
                       os.environ["AIRFLOW_CONN_CRM_SOURCE"] + "?options=-c%20statement_timeout%3D1500")
    # a long transaction in the CRM system holds contacts (the second table extracted)
    with holding(book.dbs.crm_source, "lock table crm.contacts in access exclusive mode"):
        with pytest.raises(SourceUnavailable, match=r"crm\.contacts.*statement timeout"):
            daily.extract("crm", start, end, "source_timeout")
    assert raw_batches(url, start) == before
    assert task_status(url, "source_timeout", "extract_crm")[0] == "failed"

    daily.extract("crm", start, end, "source_timeout")  # the retry, once the lock is gone
    assert raw_batches(url, start) == clean["raw"]
