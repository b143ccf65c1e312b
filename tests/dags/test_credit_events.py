"""crm_credit_events end to end: messages on the machine's Redis, the triggerer's AssetWatcher, the
scheduler's runs, the warehouse's intraday ratings.

One small book is simulated up to AS_OF (no source row after it), bootstrapped and rated for AS_OF.
The components run as `make airflow` runs them (api-server, dag-processor, scheduler, triggerer; a
PostgreSQL metadata database), on a Redis channel of the test's own. Then, in one pass (each step is a
few DAG runs, so the steps share the components): one event re-rates exactly its customer; a burst
coalesces into fewer runs than messages; a malformed message is rejected with its reason; a message
published while the triggerer is down is lost by Redis, yet its customer is re-rated by the next run;
and the daily run of the date supersedes every intraday rating.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable

import psycopg2
import pytest
import redis
import sqlalchemy as sa

from common.pseudonym import pseudonymise
from common.warehouse import libpq_dsn, transaction
from tests.helpers.book import AS_OF, NEXT_DAY, midnight, rated_book
from tests.helpers.events import active_accounts, add_bureau_downgrade, add_default_event

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DAG = "crm_credit_events"
TEN_AM = midnight(NEXT_DAY) + dt.timedelta(hours=10)


def rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with transaction(url) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def wait_for(what: str, check: Callable[[], bool], local, timeout: float = 150) -> float:
    """Poll until check() holds; returns the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        local.check_alive()
        if check():
            return time.monotonic() - began
        time.sleep(0.5)
    logs = {n: (local.log_dir / f"{n}.log").read_text()[-2500:] for n in ("scheduler", "triggerer")}
    raise TimeoutError(f"{what} within {timeout:.0f}s; logs: {logs}")


def intraday(url: str) -> set[str]:
    return {r[0] for r in rows(url, "select customer_id from ratings.customer_rating_versions"
                                    " where rating_kind = 'intraday'")}


def dag_runs(local) -> list[tuple]:
    with local.metadata.connect() as conn:
        return conn.execute(sa.text("select state from dag_run where dag_id = :d"), {"d": DAG}).all()


def all_runs_done(local) -> bool:
    runs = dag_runs(local)
    assert all(state != "failed" for (state,) in runs), runs
    return bool(runs) and all(state == "success" for (state,) in runs)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_credit_events_rerate_through_redis_the_triggerer_and_the_scheduler(
        admin_url, tmp_path_factory, tmp_path) -> None:
    from devtools.scheduler import running, scheduler_env
    from pipeline import daily

    bus = redis.Redis.from_url(REDIS_URL)
    channel = f"credit_events_test_{uuid.uuid4().hex[:8]}"
    metadata = f"t_{uuid.uuid4().hex[:10]}_airflow"
    admin = psycopg2.connect(libpq_dsn(admin_url))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{metadata}"')
    try:
        with rated_book(admin_url, tmp_path_factory.mktemp("events-dag"), sources_end=AS_OF) as rated:
            wh, fin = rated.dbs.warehouse, rated.dbs.finance_source
            # scheduled_runs: the scheduler creates the asset-triggered runs (the other DAGs stay paused)
            env = scheduler_env(tmp_path / "airflow", scheduled_runs=True, metadata_url=sa.make_url(admin_url).set(
                database=metadata).render_as_string(hide_password=False))
            env.update(AIRFLOW_CONN_CREDIT_EVENTS=REDIS_URL, CREDIT_EVENTS_CHANNEL=channel)
            accounts = active_accounts(wh, 6)
            with running(env, unpause=(DAG,), triggerer=True) as local:
                def subscribed() -> bool:
                    return dict(bus.pubsub_numsub(channel)).get(channel.encode(), 0) > 0

                wait_for("the triggerer did not subscribe", subscribed, local, timeout=120)

                # one event: exactly its customer is re-rated, and BI sees it
                first = accounts[0]
                bus.publish(channel, add_default_event(fin, first, TEN_AM))
                seconds = wait_for("the event was not re-rated", lambda: bool(intraday(wh)), local)
                wait_for("the run did not finish", lambda: all_runs_done(local), local)
                assert intraday(wh) == {pseudonymise(first)}, f"re-rated after {seconds:.1f}s"
                assert rows(wh, "select rating_grade, rating_kind from ratings.current_customer_ratings"
                                " where customer_id = %s", (pseudonymise(first),)) == [("D", "intraday")]

                # a burst of 5 messages for 2 customers: fewer runs than messages, each customer once (the
                # trigger takes one message per subscription: most of a burst is lost by Redis and found
                # by the watermark)
                runs_before = len(dag_runs(local))
                burst_accounts = accounts[1:3]
                for i in range(5):
                    bus.publish(channel, add_bureau_downgrade(
                        fin, burst_accounts[i % 2], TEN_AM + dt.timedelta(minutes=5, seconds=i)))
                wanted = {pseudonymise(a) for a in burst_accounts}
                wait_for("the burst was not re-rated", lambda: wanted <= intraday(wh), local)
                wait_for("the burst's runs did not finish", lambda: all_runs_done(local), local)
                burst_runs = len(dag_runs(local)) - runs_before
                assert 1 <= burst_runs < 5, burst_runs
                assert rows(wh, "select customer_id, count(*) from ratings.customer_rating_versions"
                                " where rating_kind = 'intraday' group by 1 having count(*) > 1") == []

                def rejected() -> bool:
                    return bool(rows(wh, "select 1 from events.rejected_events where reason like 'malformed JSON%%'"))

                # a malformed message is rejected with its reason
                wait_for("the triggerer did not subscribe again", subscribed, local, timeout=60)
                bus.publish(channel, '{"event_id": "ev-broken", "event_type": ')
                wait_for("the malformed message was not rejected", rejected, local)
                wait_for("its run did not finish", lambda: all_runs_done(local), local)

                # Redis drops a message nobody listens to; the watermark still finds its row
                local.stop_component("triggerer")
                lost, signalled = accounts[3], accounts[4]
                assert bus.publish(channel, add_default_event(fin, lost, TEN_AM + dt.timedelta(minutes=30))) == 0
                local.start("triggerer")
                wait_for("the triggerer did not subscribe again", subscribed, local, timeout=120)
                bus.publish(channel, add_bureau_downgrade(fin, signalled, TEN_AM + dt.timedelta(minutes=31)))
                wanted = {pseudonymise(lost), pseudonymise(signalled)}
                wait_for("the lost event was not recovered", lambda: wanted <= intraday(wh), local)
                wait_for("the last runs did not finish", lambda: all_runs_done(local), local)
                assert rows(wh, "select rating_grade from ratings.current_customer_ratings where customer_id = %s",
                            (pseudonymise(lost),)) == [("D",)]
                assert not rows(wh, "select 1 from events.inbox where account_id = %s", (lost,))

            # the daily run of NEXT_DAY supersedes every intraday rating and warning
            run_id = "daily_next_day"
            for source in ("crm", "finance"):
                daily.extract(source, midnight(NEXT_DAY), midnight(NEXT_DAY + dt.timedelta(days=1)), run_id)
            daily.build_features(NEXT_DAY, run_id)
            daily.score(NEXT_DAY, run_id)
            assert intraday(wh) == set()
            assert rows(wh, "select count(*) from ratings.credit_warnings where rating_kind = 'intraday'") == [(0,)]
            assert rows(wh, "select rating_grade, rating_kind from ratings.customer_ratings"
                            " where customer_id = %s and as_of_date = %s",
                        (pseudonymise(first), NEXT_DAY)) == [("D", "daily")]
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{metadata}" with (force)')
        admin.close()
