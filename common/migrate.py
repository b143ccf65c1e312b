"""Apply warehouse/migrations/NNN_*.sql in order, once each, recorded in audit.schema_migrations."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from common.paths import MIGRATIONS_DIR
from common.warehouse import WAREHOUSE, transaction

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


def migrate(conn_id_or_url: str = WAREHOUSE) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    applied_now: list[str] = []
    files = migration_files()
    with transaction(conn_id_or_url) as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute("create schema if not exists audit")
        cur.execute(
            "create table if not exists audit.schema_migrations ("
            " name text primary key, applied_at timestamptz not null default now())"
        )
        cur.execute("select name from audit.schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        _check_history(done, files)
        for path in files:
            if path.name in done:
                continue
            cur.execute(path.read_text(encoding="utf-8"))
            cur.execute("insert into audit.schema_migrations (name) values (%s)", (path.name,))
            applied_now.append(path.name)
    return applied_now


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    applied = migrate()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


if __name__ == "__main__":
    main()
