"""Local Airflow that works out of the box: home under the state folder, SQLite metadata, no examples.

`python -m devtools.local_airflow env` prints the environment; `run -- <airflow args>` runs the Airflow
CLI in it (e.g. `run -- dags test crm_credit_risk_daily 2026-11-01`); `standalone` starts the UI,
scheduler, dag-processor and triggerer for clicking through runs and starting backfills.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from common.paths import REPO_ROOT, state_dir
from common.warehouse import CRM_SOURCE, FINANCE_SOURCE, WAREHOUSE
from pipeline.operations import DEADLINE_SWITCH

CONNECTION_IDS = (WAREHOUSE, CRM_SOURCE, FINANCE_SOURCE)
LOCAL_CREDIT_EVENTS = "redis://127.0.0.1:6379/0"


def _embedded_connections() -> dict[str, str]:
    """AIRFLOW_CONN_* for connections the user has not configured, pointing at the embedded server."""
    missing = [c for c in CONNECTION_IDS if not os.environ.get(f"AIRFLOW_CONN_{c.upper()}")]
    if WAREHOUSE in missing and os.environ.get("WAREHOUSE_URL"):
        os.environ["AIRFLOW_CONN_WAREHOUSE"] = os.environ["WAREHOUSE_URL"]
        missing.remove(WAREHOUSE)
    if not missing:
        return {}
    from common.warehouse import EMBEDDED_DATABASES
    from devtools import embedded_pg

    server = embedded_pg.ensure_running()
    return {
        f"AIRFLOW_CONN_{c.upper()}": server.url(EMBEDDED_DATABASES[c]).replace("+psycopg2", "")
        for c in missing
    }


def airflow_env(home: Path | None = None) -> dict[str, str]:
    """Environment for the local Airflow: settings, connections, and the repo on PYTHONPATH."""
    home = home or state_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PARALLELISM="4",  # the scheduler would start 32 workers on a 2-core machine
        AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="2",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
        AIRFLOW__API__PORT=env.get("AIRFLOW__API__PORT", "8080"),
        MLFLOW_TRACKING_URI=env.get(
            "MLFLOW_TRACKING_URI", f"sqlite:///{state_dir() / 'mlflow' / 'mlflow.db'}"
        ),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        # `airflow standalone` starts its components as `airflow ...` subprocesses: the venv goes first
        PATH=os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", ""))),
    )
    (state_dir() / "mlflow").mkdir(parents=True, exist_ok=True)
    env.update(_embedded_connections())
    # credit events (crm_credit_events): the machine's Redis unless configured
    env.setdefault("AIRFLOW_CONN_CREDIT_EVENTS", LOCAL_CREDIT_EVENTS)
    return env


def airflow(args: list[str], env: dict[str, str] | None = None, check: bool = True) -> int:
    """Run the Airflow CLI with the local environment (migrating its metadata DB first)."""
    env = dict(env or airflow_env())
    if args[:2] == ["dags", "test"]:
        env[DEADLINE_SWITCH] = "off"  # Dag.test cannot finish a run with a deadline (pipeline.operations)
    exe = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([exe, "db", "migrate"], env=env, check=True, capture_output=True, text=True)
    return subprocess.run([exe, *args], env=env, check=check).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["env", "run", "standalone"])
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    if ns.action == "env":
        env = airflow_env()
        for key in sorted(
            k for k in env if k.startswith(("AIRFLOW", "MLFLOW", "PYTHONPATH", "CRM_RISK_DEVELOPMENT"))
        ):
            print(f"export {key}={shlex.quote(env[key])}")
        # this shell is for `airflow dags test`, which cannot finish a run with a deadline alert
        print(f"export {DEADLINE_SWITCH}=off")
        return
    args = [a for a in ns.args if a != "--"]
    sys.exit(airflow(["standalone"] if ns.action == "standalone" else args, check=False))


if __name__ == "__main__":
    main()
