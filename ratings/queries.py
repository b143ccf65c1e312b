"""The ratings SQL: statements kept in reviewable files under ratings/sql/, read by name."""

from __future__ import annotations

import functools
import re
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
_NAME = re.compile(r"^-- name: ([a-z][a-z0-9_]*)[ \t]*$", re.MULTILINE)


def _statement(body: str) -> str:
    """A block without the comment lines that open it (they describe it; the server sees the SQL)."""
    lines = body.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


@functools.cache
def queries(file: str) -> dict[str, str]:
    """The named statements of ratings/sql/<file>.sql.

    A statement starts at a `-- name: <name>` line and runs to the next one. Parameters are written
    as psycopg2's `%(name)s`, so a literal percent sign is `%%`.
    """
    parts = _NAME.split((SQL_DIR / f"{file}.sql").read_text(encoding="utf-8"))[1:]
    named: dict[str, str] = {}
    for name, body in zip(parts[::2], parts[1::2], strict=True):
        statement = _statement(body)
        if name in named or not statement:
            raise ValueError(f"ratings/sql/{file}.sql: statement {name!r} is empty or named twice")
        named[name] = statement
    return named


def query(file: str, name: str) -> str:
    """One named statement of ratings/sql/<file>.sql."""
    return queries(file)[name]
