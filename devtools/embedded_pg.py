"""An embedded PostgreSQL under the local state folder, on a loopback TCP port.

Uses the server binaries that the `pgserver` wheel ships, so nothing is installed by hand. The server
listens on 127.0.0.1 only (no Unix socket, whose path length is limited) and keeps running between
commands; `python -m devtools.embedded_pg stop` stops it.
"""

from __future__ import annotations

import argparse
import os
import pwd
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from common.paths import state_dir

DEFAULT_PORT = 55432
SYSTEM_USER = "pgserver"  # initdb refuses to run as root: the server runs as this user then


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server."""

    pgdata: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"


def _bin(name: str) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _run_as() -> dict:
    """subprocess kwargs that drop root to the server's own system user."""
    if os.geteuid() != 0:
        return {}
    import stat

    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | read)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    return {"user": SYSTEM_USER}


def _port() -> int:
    return int(os.environ.get("EMBEDDED_PG_PORT", DEFAULT_PORT))


def _answers(port: int) -> bool:
    try:
        psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2
        ).close()
        return True
    except psycopg2.OperationalError:
        return False


def _init(pgdata: Path, run_as: dict) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    if run_as:
        from pgserver.utils import ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    subprocess.run(
        [_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres"],
        check=True,
        capture_output=True,
        text=True,
        **run_as,
    )


def ensure_running() -> EmbeddedServer:
    """Start the embedded server if it is not running (initialising it the first time)."""
    port = _port()
    pgdata = state_dir() / "pg" / "data"
    server = EmbeddedServer(pgdata, port)
    if _answers(port):
        _ensure_databases(server)
        return server
    run_as = _run_as()
    if not (pgdata / "PG_VERSION").exists():
        _init(pgdata, run_as)
    log = pgdata.parent / "server.log"
    if run_as and log.exists():
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(log, entry.pw_uid, entry.pw_gid)
    elif run_as:
        log.touch()
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(log, entry.pw_uid, entry.pw_gid)
    options = f"-h 127.0.0.1 -p {port} -c unix_socket_directories='' -c max_connections=200"
    subprocess.run(
        [_bin("pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
        check=True,
        capture_output=True,
        text=True,
        **run_as,
    )
    deadline = time.monotonic() + 30
    while not _answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded PostgreSQL did not start on port {port}; see {log}")
        time.sleep(0.2)
    _ensure_databases(server)
    return server


def _ensure_databases(server: EmbeddedServer) -> None:
    from common.warehouse import EMBEDDED_DATABASES

    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in EMBEDDED_DATABASES.values():
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{name}"')
    conn.close()


def stop() -> None:
    """Stop the embedded server if it runs."""
    pgdata = state_dir() / "pg" / "data"
    if (pgdata / "postmaster.pid").exists():
        subprocess.run([_bin("pg_ctl"), "-D", str(pgdata), "-w", "stop"], check=False, **_run_as())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "url"])
    parser.add_argument("--database", default="warehouse")
    args = parser.parse_args()
    if args.action == "stop":
        stop()
        return
    server = ensure_running()
    print(
        server.url(args.database)
        if args.action == "url"
        else f"embedded PostgreSQL on 127.0.0.1:{server.port}"
    )


if __name__ == "__main__":
    main()
