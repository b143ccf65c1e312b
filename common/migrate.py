"""Apply warehouse/migrations/NNN_*.sql in order, once each, recorded in audit.schema_migrations."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from common.paths import MIGRATIONS_DIR
from common.warehouse import WAREHOUSE, transaction

_NAME = re.compile(r"^\d{3}_[a-z0-9_]+\.sql$")
_LOCK_KEY = 4_171_001  # advisory lock: two tasks starting at once must not race on DDL


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """Migration files in apply order; a badly named file is an error, not silently skipped."""
    files = sorted(p for p in directory.glob("*.sql"))
    bad = [p.name for p in files if not _NAME.match(p.name)]
    if bad:
        raise ValueError(f"migration files must be named NNN_lower_snake.sql: {bad}")
    return files


def migrate(conn_id_or_url: str = WAREHOUSE) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    applied_now: list[str] = []
    with transaction(conn_id_or_url) as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute("create schema if not exists audit")
        cur.execute(
            "create table if not exists audit.schema_migrations ("
            " name text primary key, applied_at timestamptz not null default now())"
        )
        cur.execute("select name from audit.schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        for path in migration_files():
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
