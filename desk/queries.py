"""The desk's SQL: named statements in desk/sql/<file>.sql (the same format as ratings/sql/)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
_NAME = re.compile(r"^-- name: ([a-z][a-z0-9_]*)[ \t]*$", re.MULTILINE)


@functools.cache
def queries(file: str) -> dict[str, str]:
    """{name: statement} of desk/sql/<file>.sql; a statement runs from `-- name: x` to the next one."""
    parts = _NAME.split((SQL_DIR / f"{file}.sql").read_text(encoding="utf-8"))[1:]
    named = {name: body.strip() for name, body in zip(parts[::2], parts[1::2], strict=True)}
    if len(named) * 2 != len(parts) or not all(named.values()):
        raise ValueError(f"desk/sql/{file}.sql: a statement is empty or named twice")
    return named
