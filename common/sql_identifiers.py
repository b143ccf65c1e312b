"""The one check for names that come from config (schemas, tables, columns, types) before they reach SQL.

Config files are data, edited by people: a name is accepted only if it is a plain lower_snake_case
PostgreSQL identifier, so it needs no quoting and cannot carry SQL. Code still composes statements
with psycopg2.sql.Identifier; this check makes a bad name fail early, with the file and key in the
message, before any statement runs.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# PostgreSQL type names as config writes them: text, numeric(18, 2), double precision, timestamptz, text[]
_TYPE = re.compile(r"[a-z][a-z0-9_]*( [a-z][a-z0-9_]*){0,3}( ?\(\d{1,4}( ?, ?\d{1,4})?\))?(\[\])?")


class InvalidIdentifier(ValueError):
    """A configured name is not a plain SQL identifier (or type name); nothing was run with it."""


def identifier(value: object, where: str) -> str:
    """`value` if it is a lower_snake_case identifier of at most 63 characters; else InvalidIdentifier.

    `where` says which file and key it came from, e.g. "sources.yml: crm table name".
    """
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidIdentifier(
            f"{where}: {value!r} is not a valid SQL identifier (lower_snake_case: a-z, 0-9, _; "
            "starting with a letter or _, at most 63 characters)"
        )
    return value


def qualified(value: object, where: str) -> str:
    """`value` if it is `<identifier>.<identifier>` (schema.table, source.table); else InvalidIdentifier."""
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2:
        raise InvalidIdentifier(f"{where}: {value!r} must be two identifiers joined by a dot (schema.table)")
    return ".".join(identifier(part, where) for part in parts)


def column_type(value: object, where: str) -> str:
    """`value` if it looks like a PostgreSQL type name (text, numeric(18, 2), double precision, ...)."""
    if not isinstance(value, str) or not _TYPE.fullmatch(value.strip().lower()):
        raise InvalidIdentifier(
            f"{where}: {value!r} is not a PostgreSQL type name (e.g. text, numeric(18, 2))"
        )
    return value
