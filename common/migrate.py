"""Apply warehouse/migrations/NNN_*.sql in order, once each, recorded in audit.schema_migrations."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import psycopg2
from psycopg2 import sql

from common.paths import MIGRATIONS_DIR
from common.warehouse import WAREHOUSE_ADMIN, transaction

_NAME = re.compile(r"^\d{3}_[a-z0-9_]+\.sql$")
_LOCK_KEY = 4_171_001  # advisory lock: two tasks starting at once must not race on DDL


class MigrationHistoryError(RuntimeError):
    """The warehouse's recorded migrations do not fit the files of this checkout."""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """Migration files in apply order; a badly named file is an error, not silently skipped."""
    files = sorted(p for p in directory.glob("*.sql"))
    bad = [p.name for p in files if not _NAME.match(p.name)]
    if bad:
        raise ValueError(f"migration files must be named NNN_lower_snake.sql: {bad}")
    return files


def _check_history(applied: set[str], files: list[Path]) -> None:
    """Refuse a warehouse whose recorded migrations are not all files of this checkout, or a pending
    file numbered before an applied one.

    The first was built from another migration history (for example the files from before the
    baseline was squashed): applying this baseline on top of it would fail half-way or leave a schema
    that matches neither history. The second would run after migrations that were written to follow it.
    """
    unknown = sorted(applied - {p.name for p in files})
    if unknown:
        raise MigrationHistoryError(
            f"the warehouse records {len(unknown)} migration(s) that are not in warehouse/migrations/: "
            f"{', '.join(unknown)}. It was built from an earlier migration history; recreate it (for the "
            "local development warehouse: `make clean`, then `make demo`) or migrate it with the checkout "
            "that wrote it."
        )
    last = max(applied, default="")
    early = [p.name for p in files if p.name not in applied and p.name < last]
    if early:
        raise MigrationHistoryError(
            f"pending migration(s) {', '.join(early)} sort before the applied {last}: a new migration "
            "takes the next number after the last file (see warehouse/README.md)."
        )


class MigrationNeedsAdmin(RuntimeError):
    """Migrations are pending and the connection may not apply them (the run-time login)."""


def migrate(conn_id_or_url: str = WAREHOUSE_ADMIN) -> list[str]:
    """Apply pending migrations; returns the names applied now.

    Runs as the admin connection (`warehouse_admin`, else `warehouse`). With nothing pending it runs no
    DDL, so the run-time login (crm_pipeline, 160_pipeline_owner.sql) may call it as a check. Run by
    the admin, it then hands the pipeline's schemas and any object the admin created in them to
    pipeline_writer.
    """
    applied_now: list[str] = []
    files = migration_files()
    with transaction(conn_id_or_url) as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute("select to_regclass('audit.schema_migrations') is not null")
        if not cur.fetchall()[0][0]:
            cur.execute("create schema if not exists audit")
            cur.execute(
                "create table audit.schema_migrations ("
                " name text primary key, applied_at timestamptz not null default now())"
            )
        cur.execute("select name from audit.schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        _check_history(done, files)
        for path in files:
            if path.name in done:
                continue
            try:
                cur.execute(path.read_text(encoding="utf-8"))
            except psycopg2.errors.InsufficientPrivilege as exc:
                raise MigrationNeedsAdmin(
                    f"migration {path.name} is pending and this login may not apply it ({exc}). Run "
                    "`python -m common.migrate` with the admin connection (AIRFLOW_CONN_WAREHOUSE_ADMIN)."
                ) from exc
            cur.execute("insert into audit.schema_migrations (name) values (%s)", (path.name,))
            applied_now.append(path.name)
        # run by the admin: what it created since (migrations, a dbt build of the BI views) goes to
        # pipeline_writer; the run-time login itself has nothing to hand over
        cur.execute(
            "select to_regprocedure('audit.hand_over_to_pipeline()') is not null"
            " and current_user <> 'pipeline_writer'"
        )
        if cur.fetchall()[0][0]:
            cur.execute("call audit.hand_over_to_pipeline()")
    return applied_now


RUNTIME_PASSWORD_ENV = "PIPELINE_DB_PASSWORD"


def set_runtime_password(conn_id_or_url: str = WAREHOUSE_ADMIN) -> None:
    """Give the run-time login crm_pipeline the password in PIPELINE_DB_PASSWORD (admin connection)."""
    secret = os.environ.get(RUNTIME_PASSWORD_ENV)
    if not secret:
        raise SystemExit(f"{RUNTIME_PASSWORD_ENV} is not set")
    with transaction(conn_id_or_url) as cur:
        cur.execute(sql.SQL("alter role crm_pipeline password {}").format(sql.Literal(secret)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--set-pipeline-password",
        action="store_true",
        help=f"then set the run-time login crm_pipeline's password from {RUNTIME_PASSWORD_ENV}",
    )
    args = parser.parse_args()
    applied = migrate()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    if args.set_pipeline_password:
        set_runtime_password()
        print("crm_pipeline password set")


if __name__ == "__main__":
    main()
