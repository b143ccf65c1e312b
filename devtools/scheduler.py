"""Run the local Airflow scheduler components (api-server, dag-processor, scheduler) and backfill with them.

Tests and operators use it the same way: start the components in a private AIRFLOW_HOME, queue a
backfill with `airflow backfill create`, wait until the scheduler has run it, stop everything.

    python -m devtools.scheduler backfill --from-date 2026-10-29 --to-date 2026-10-31 [--run-backwards]
        [--reprocess-behavior completed]

Backfill runs of one backfill start one at a time (`--max-active-runs 1`, which Airflow counts per
backfill, not against the DAG's own `max_active_runs`), in date order or, with `--run-backwards`,
newest first; the next starts only when the previous one has finished.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from devtools.local_airflow import airflow_env
from pipeline.daily import DAG_ID

COMPONENTS = ("api-server", "dag-processor", "scheduler")
TRIGGERER = (
    "triggerer"  # runs the AssetWatchers' triggers (crm_credit_events); start it with running(triggerer=True)
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Celery:
    """The CeleryExecutor's settings: a Redis broker, a PostgreSQL result backend and a queue.

    A queue of its own (`queue`) keeps two runs that share one Redis from taking each other's tasks.
    """

    broker_url: str
    result_backend: str
    queue: str = "default"


def scheduler_env(
    home: Path,
    metadata_url: str | None = None,
    port: int | None = None,
    scheduled_runs: bool = False,
    celery: Celery | None = None,
) -> dict[str, str]:
    """Environment of the components: the local Airflow one plus a port, a shared JWT key, no surprises.

    `scheduled_runs=False` stops the scheduler from creating the DAG's own daily runs (it still runs
    backfills and manual runs): a backfill then never interleaves with a run for "yesterday".
    With `celery` the scheduler hands tasks to Celery workers (start them with `running(workers=N)`)
    instead of running them itself; the metadata database must then be PostgreSQL.
    """
    env = airflow_env(home)
    port = port or free_port()
    env.update(
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=env.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_hex(32),
        AIRFLOW__API__SECRET_KEY=env.get("AIRFLOW__API__SECRET_KEY") or secrets.token_hex(32),
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=str(scheduled_runs),
        AIRFLOW__API__WORKERS="1",
    )
    if metadata_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_url
    if celery:
        env.update(
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__CELERY__BROKER_URL=celery.broker_url,
            AIRFLOW__CELERY__RESULT_BACKEND=celery.result_backend,
            AIRFLOW__OPERATORS__DEFAULT_QUEUE=celery.queue,
            AIRFLOW__CELERY__WORKER_CONCURRENCY="1",
        )
    return env


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the starting process dies (Linux), so no component outlives it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _airflow_exe() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def cli(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run the Airflow CLI in `env`; raise with its output when it fails."""
    done = subprocess.run([_airflow_exe(), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(
            f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


@dataclass
class LocalScheduler:
    """Running components and where to read their state."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def metadata(self) -> sa.Engine:
        return sa.create_engine(self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], poolclass=sa.pool.NullPool)

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text()[-3000:]
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 180) -> None:
        """Until the dag-processor has serialised the DAG (backfill create needs it)."""
        deadline = time.monotonic() + timeout
        query = sa.text("select count(*) from serialized_dag where dag_id = :d")
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(sa.exc.DBAPIError), self.metadata.connect() as conn:
                if conn.execute(query, {"d": dag_id}).scalar():
                    return
            time.sleep(2)
        raise TimeoutError(f"{dag_id} was not parsed within {timeout:.0f}s; see {self.log_dir}")

    def backfill(
        self,
        from_date: date,
        to_date: date,
        *,
        run_backwards: bool = False,
        reprocess_behavior: str | None = None,
        dag_id: str = DAG_ID,
    ) -> str:
        """`airflow backfill create` with one run at a time; returns the CLI output."""
        args = [
            "backfill",
            "create",
            "--dag-id",
            dag_id,
            "--from-date",
            from_date.isoformat(),
            "--to-date",
            to_date.isoformat(),
            "--max-active-runs",
            "1",
        ]
        if run_backwards:
            args.append("--run-backwards")
        if reprocess_behavior:
            args += ["--reprocess-behavior", reprocess_behavior]
        return cli(args, self.env)

    def wait_for_backfill(self, dag_id: str = DAG_ID, timeout: float = 900) -> list[dict]:
        """Until the latest backfill of the DAG is complete; returns its runs in the order they started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with self.metadata.connect() as conn:
                backfill = conn.execute(
                    sa.text(
                        "select id, completed_at from backfill where dag_id = :d order by id desc limit 1"
                    ),
                    {"d": dag_id},
                ).first()
                if backfill and backfill.completed_at is not None:
                    rows = (
                        conn.execute(
                            sa.text(
                                "select logical_date, state, start_date, end_date from dag_run "
                                "where backfill_id = :b order by start_date"
                            ),
                            {"b": backfill.id},
                        )
                        .mappings()
                        .all()
                    )
                    return [dict(r) for r in rows]
            time.sleep(3)
        raise TimeoutError(f"backfill of {dag_id} did not complete within {timeout:.0f}s; see {self.log_dir}")

    def start(self, name: str, args: list[str] | None = None) -> None:
        """Start (or restart) one component, `airflow <args>` (default: `airflow <name>`), logging to <name>.log."""
        log = open(self.log_dir / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [_airflow_exe(), *(args or [name])],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def stop_component(self, name: str, grace: float = 30) -> None:
        """Stop one component (SIGTERM, then SIGKILL) and forget it until start(name) runs it again."""
        proc = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self, grace: float = 30) -> None:
        """SIGTERM each component (its own process group), then SIGKILL what is left."""
        for proc in self.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # the LocalExecutor's workers share the scheduler's process group; make sure none survived
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)


def worker_command(index: int, env: dict[str, str]) -> list[str]:
    """`airflow celery worker` number `index`: its own Celery node name, the run's queue, one task at a time."""
    return [
        "celery",
        "worker",
        "--celery-hostname",
        f"worker{index}@%h",
        "--queues",
        env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default"),
        "--concurrency",
        env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "1"),
        "--skip-serve-logs",
    ]


@contextlib.contextmanager
def running(
    env: dict[str, str], unpause: tuple[str, ...] = (DAG_ID,), workers: int = 0, triggerer: bool = False
) -> Iterator[LocalScheduler]:
    """Migrate the metadata DB, start the components (the triggerer too with `triggerer`, and `workers`
    Celery workers when the env uses the CeleryExecutor), unpause the DAGs; stop everything on exit."""
    home = Path(env["AIRFLOW_HOME"])
    log_dir = home / "component-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if workers and env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
        raise ValueError("Celery workers need an environment from scheduler_env(..., celery=Celery(...))")
    cli(["db", "migrate"], env, timeout=600)
    local = LocalScheduler(env=env, log_dir=log_dir)
    commands = {name: [name] for name in COMPONENTS + ((TRIGGERER,) if triggerer else ())}
    commands.update({f"worker{i}": worker_command(i, env) for i in range(1, workers + 1)})
    try:
        for name, args in commands.items():
            local.start(name, args)
        for dag_id in unpause:
            local.wait_for_dag(dag_id)
            cli(["dags", "unpause", dag_id], env)
        yield local
    finally:
        local.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    bf = sub.add_parser("backfill", help="start the components, backfill a range, wait, stop")
    bf.add_argument("--from-date", type=date.fromisoformat, required=True)
    bf.add_argument("--to-date", type=date.fromisoformat, required=True)
    bf.add_argument("--run-backwards", action="store_true")
    bf.add_argument("--reprocess-behavior", choices=["none", "completed", "failed"])
    bf.add_argument("--timeout", type=float, default=3600)
    ns = parser.parse_args()
    from common.paths import state_dir

    env = scheduler_env(state_dir() / "airflow")
    with running(env) as local:
        print(
            local.backfill(
                ns.from_date,
                ns.to_date,
                run_backwards=ns.run_backwards,
                reprocess_behavior=ns.reprocess_behavior,
            ),
            flush=True,
        )
        for run in local.wait_for_backfill(timeout=ns.timeout):
            print(
                f"{run['logical_date']:%Y-%m-%d}  {run['state']:<8} {run['start_date']} -> {run['end_date']}"
            )


if __name__ == "__main__":
    main()
