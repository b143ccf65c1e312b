"""The one way to run dbt: the project in dbt_project/, against the resolved warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from common.config import check_config_folder
from common.paths import DBT_PROJECT_DIR, state_dir
from common.pseudonym import session_options
from common.warehouse import WAREHOUSE, connection_url, url_parts


class DbtFailed(RuntimeError):
    """dbt exited non-zero; the message carries the tail of its log."""


def dbt_env(conn_id_or_url: str = WAREHOUSE) -> dict[str, str]:
    """Environment for dbt: profile values taken from the warehouse connection."""
    url = conn_id_or_url if "://" in conn_id_or_url else connection_url(conn_id_or_url)
    parts = url_parts(url)
    env = dict(os.environ)
    # the pseudonym key reaches dbt's sessions as settings, never as SQL text (common.pseudonym)
    # libpq options of the URL (e.g. `-c role=pipeline_writer`) apply to dbt's sessions too
    url_options = str(sa.make_url(url).query.get("options", ""))
    options = " ".join(filter(None, [env.get("PGOPTIONS", ""), url_options, session_options()]))
    env.update(
        DBT_PG_HOST=str(parts["host"]),
        DBT_PG_PORT=str(parts["port"]),
        DBT_PG_USER=str(parts["user"]),
        DBT_PG_PASSWORD=str(parts["password"]),
        DBT_PG_DBNAME=str(parts["dbname"]),
        DBT_PROFILES_DIR=str(DBT_PROJECT_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_LOG_PATH=str(state_dir() / "dbt" / "logs"),
        DBT_TARGET_PATH=str(state_dir() / "dbt" / "target"),
        PGOPTIONS=options,
    )
    return env


def run_dbt(
    args: list[str],
    vars: dict[str, Any] | None = None,
    conn_id_or_url: str = WAREHOUSE,
    sink: Callable[[str], None] | None = None,
) -> str:
    """Run `dbt <args>` in a subprocess, streaming its log line by line as dbt writes it (to stdout, so
    to the Airflow task log, or to `sink`); returns the whole output, raises DbtFailed on failure.

    The config folder is checked first, as by every other entry point: a bad file stops the run here.
    """
    check_config_folder()
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [str(dbt), *args, "--project-dir", str(DBT_PROJECT_DIR)]
    if vars:
        cmd += ["--vars", json.dumps(vars, default=str)]
    write = sink or (lambda line: print(line, flush=True))
    lines: list[str] = []
    with subprocess.Popen(
        cmd,
        env=dbt_env(conn_id_or_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            write(line)
        code = proc.wait()
    output = "\n".join(lines)
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-30:])
        raise DbtFailed(f"dbt {' '.join(args)} failed (exit {code}):\n{tail}")
    return output
