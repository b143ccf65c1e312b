"""The desk's SQL: named statements in desk/sql/<file>.sql (the same format as ratings/sql/)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
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


_PARAMETER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Prepared:
    """A named statement as a server-side prepared statement: PREPARE once per connection, then EXECUTE.

    Saves the server parsing and planning the statement on every request. The parameters keep their
    names: `execute` takes the same dict as the plain statement.
    """

    name: str  # the prepared statement's name on the server
    prepare: str  # PREPARE <name> AS <statement with $1..$n>
    execute: str  # EXECUTE <name>(%(a)s, %(b)s, ...)


@functools.cache
def prepared(file: str, name: str) -> Prepared:
    """The statement `name` of desk/sql/<file>.sql as a Prepared (one SQL statement, no `%%` escapes)."""
    lines = queries(file)[name].splitlines()
    statement = "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip().rstrip(";")
    if ";" in statement or "%%" in statement:
        raise ValueError(f"desk/sql/{file}.sql {name}: only a single statement without %% can be prepared")
    order: list[str] = []

    def positional(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    body = _PARAMETER.sub(positional, statement)
    server_name = f"{file}_{name}"
    arguments = ", ".join(f"%({p})s" for p in order)
    return Prepared(
        name=server_name,
        prepare=f"prepare {server_name} as {body}",
        execute=f"execute {server_name}({arguments})" if order else f"execute {server_name}",
    )
