"""`make bi`: Apache Superset with the credit-risk dashboard over the warehouse, on http://127.0.0.1:8088.

Superset runs from its own virtual environment (.venv-bi, `make bi-install`) with SQLite metadata under
<state>/superset. Before it starts: the warehouse is migrated and its BI views built (dbt), the login
`bi_superset` (a member of bi_reader, nothing else) is created if missing, and the dashboard bundle
(bi/superset/dashboard) is imported over whatever an earlier import made. Prints the URL and the admin
login; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bi.bundle import build_bundle
from common.paths import REPO_ROOT, state_dir
from common.warehouse import WAREHOUSE, connection_url, transaction

BI_VENV = Path(os.environ.get("BI_VENV", REPO_ROOT / ".venv-bi"))
SUPERSET_DIR = Path(__file__).resolve().parent / "superset"
LOGIN = "bi_superset"  # the warehouse login Superset connects with: a member of bi_reader only
ADMIN = "admin"
DASHBOARD_SLUG = "credit-risk"


class SupersetFailed(RuntimeError):
    """A Superset command exited non-zero; the message carries the tail of its output."""


def superset_home() -> Path:
    return state_dir() / "superset"


def _kept_secret(path: Path, env_name: str) -> str:
    """The value of env_name, else one generated once and kept in `path` (owner-readable only)."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def admin_password(home: Path) -> str:
    return _kept_secret(home / "admin_password", "SUPERSET_ADMIN_PASSWORD")


def superset_env(home: Path) -> dict[str, str]:
    """Environment of every Superset command: its home, config file and secret key."""
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        SUPERSET_HOME=str(home),
        SUPERSET_CONFIG_PATH=str(SUPERSET_DIR / "superset_config.py"),
        SUPERSET_SECRET_KEY=_kept_secret(home / "secret_key", "SUPERSET_SECRET_KEY"),
        FLASK_APP="superset",
    )
    return env


def _run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise SupersetFailed(f"{' '.join(cmd[:3])} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def superset(home: Path, *args: str) -> str:
    """Run `superset <args>` from the BI venv."""
    return _run([str(BI_VENV / "bin" / "superset"), *args], superset_env(home))


def bi_login_uri(conn_id_or_url: str = WAREHOUSE, password: str | None = None) -> str:
    """SQLAlchemy URI of the warehouse as the login bi_superset, created (in role bi_reader) if missing."""
    password = password if password is not None else os.environ.get("BI_SUPERSET_PASSWORD") or None
    with transaction(conn_id_or_url) as cur:
        cur.execute("select 1 from pg_roles where rolname = %s", (LOGIN,))
        verb = "alter" if cur.fetchone() else "create"
        # identifiers are constants; the password is a literal psycopg2 quotes
        cur.execute(f"{verb} role {LOGIN} login password %s", (password,))
        cur.execute(f"grant bi_reader to {LOGIN}")
    url = conn_id_or_url if "://" in conn_id_or_url else connection_url(conn_id_or_url)
    login = sa.make_url(url).set(drivername="postgresql+psycopg2", username=LOGIN, password=password)
    return login.render_as_string(hide_password=False)


class _Steps:
    """Runs named steps, printing each with the seconds it took."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        began = time.monotonic()
        result = fn(*args)
        self.timings[name] = round(time.monotonic() - began, 1)
        if self.verbose:
            print(f"bi: {name} ({self.timings[name]} s)", flush=True)
        return result


def prepare_warehouse(
    conn_id_or_url: str = WAREHOUSE, verbose: bool = True, steps: _Steps | None = None
) -> str:
    """Migrate, build the BI views (dbt), create or update the login bi_superset; returns its URI.
    What docker-compose's airflow-init runs (`python -m bi.serve --warehouse-only`)."""
    from common.migrate import migrate
    from common.transform import build_bi_views

    step = steps or _Steps(verbose)
    step("warehouse migrated", migrate, conn_id_or_url)
    step("BI views built (dbt run --select bi)", build_bi_views, conn_id_or_url)
    uri: str = step(f"login {LOGIN} in role bi_reader", bi_login_uri, conn_id_or_url)
    return uri


def prepare(home: Path, conn_id_or_url: str = WAREHOUSE, verbose: bool = True) -> dict[str, float]:
    """Warehouse ready for BI, Superset's metadata migrated, the admin created, the dashboard imported.
    Returns the seconds each step took."""
    step = _Steps(verbose)
    uri = prepare_warehouse(conn_id_or_url, steps=step)
    bundle = step("dashboard bundle built", build_bundle, uri, home / "credit_risk_dashboard.zip")
    step("Superset metadata migrated", superset, home, "db", "upgrade")
    # a no-op (exit 0, "User already exists") once the admin exists: its password is then left as it is
    admin = ["--username", ADMIN, "--firstname", "Credit", "--lastname", "Risk", "--email", "admin@localhost"]
    step("admin created", superset, home, "fab", "create-admin", *admin, "--password", admin_password(home))
    step("roles and permissions synced", superset, home, "init")
    step(
        "dashboard imported",
        _run,
        [str(BI_VENV / "bin" / "python"), str(SUPERSET_DIR / "import_assets.py"), str(bundle), ADMIN],
        superset_env(home),
    )
    return step.timings


def start(home: Path, port: int, timeout: float = 120.0) -> subprocess.Popen:
    """Start Superset's web server on 127.0.0.1:port; returns once /health answers."""
    log = (home / "superset.log").open("a", encoding="utf-8")
    proc = subprocess.Popen(
        [str(BI_VENV / "bin" / "superset"), "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
        env=superset_env(home),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SupersetFailed(f"Superset exited with {proc.returncode}: see {home / 'superset.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise SupersetFailed(
        f"Superset did not answer on port {port} within {timeout:.0f} s: see {home / 'superset.log'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("BI_PORT", "8088")))
    parser.add_argument(
        "--warehouse-only",
        action="store_true",
        help="only migrate, build the BI views and create the login bi_superset (docker-compose)",
    )
    args = parser.parse_args()
    if args.warehouse_only:
        prepare_warehouse()
        return
    if not (BI_VENV / "bin" / "superset").exists():
        sys.exit(f"no Superset in {BI_VENV}: run `make bi-install` (or `make bi`)")
    home = superset_home()
    prepare(home)
    proc = start(home, args.port)
    print(
        f"\nSuperset: http://127.0.0.1:{args.port}/superset/dashboard/{DASHBOARD_SLUG}/\n"
        f"  login {ADMIN} / {admin_password(home)}   (log: {home / 'superset.log'}; Ctrl-C stops it)",
        flush=True,
    )
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
