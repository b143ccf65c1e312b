"""Count the PostgreSQL-specific SQL per folder: the inventory table of docs/scaling.md.

    python -m devtools.sql_dialect            # prints the markdown table

SQL folders are read as their .sql and .yml files with the comments taken out (`-- ...` and Jinja
`{# ... #}`); Python folders as the string literals of their .py files, docstrings left out (the SQL
a module sends is in its literals; comments and docstrings only talk about it). Each feature is a
case-insensitive regular expression; the table counts its matches per folder.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# column -> (paths, read as Python)
FOLDERS: dict[str, tuple[tuple[str, ...], bool]] = {
    "dbt_project": (
        ("dbt_project/models", "dbt_project/macros", "dbt_project/tests", "dbt_project/dbt_project.yml"),
        False,
    ),
    "ratings/sql": (("ratings/sql",), False),
    "desk/sql": (("desk/sql",), False),
    "warehouse/migrations": (("warehouse/migrations",), False),
    "ingest": (("ingest",), True),
    "other Python": (("common", "pipeline", "ml", "expectations", "ratings", "desk"), True),
}

FEATURES: dict[str, str] = {
    "COPY (bulk load / unload)": r"from\s+stdin|to\s+stdout",
    "advisory locks": r"pg_(try_)?advisory_(xact_)?lock",
    "row locks (for update)": r"for\s+update|lock\s+table",
    "on conflict (upsert)": r"on\s+conflict",
    "distinct on": r"distinct\s+on",
    "jsonb and its operators": r"jsonb|->>|->\s*'",
    "arrays: = any(...), array[], array_agg, unnest, text[]": (
        r"=\s*any\s*\((\s*array\s*\(\s*select)?|array\s*\[|array_agg|unnest|text\[\]|with\s+ordinality"
    ),
    "hashtext": r"hashtext",
    "md5 / sha256 / encode / decode / convert_to": r"\bmd5\s*\(|\bsha256\s*\(|\bencode\s*\(|\bdecode\s*\(|convert_to",
    "generate_series": r"generate_series",
    "interval, date_trunc, at time zone, infinity": (
        r"interval\s*'|::interval|make_interval|date_trunc|date_part|at\s+time\s+zone|'-?infinity'"
    ),
    "daterange (range types)": r"daterange|tstzrange",
    ":: casts": r"::\s*[a-z]",
    "aggregate filter (where ...)": r"filter\s*\(\s*where",
    "lateral": r"\blateral\b",
    "is distinct from": r"is\s+(not\s+)?distinct\s+from",
    "returning": r"\breturning\b",
    "session settings: set_config, current_setting, set local": r"set_config|current_setting|\bset\s+local\b",
    "analyze, vacuum, pg_* functions, catalog": (
        r"\banalyze\b|\bvacuum\b|\bpg_[a-z_]+\s*\(|pg_catalog|information_schema"
    ),
    "roles and grants": r"\bgrant\s|\brevoke\s|create\s+role|alter\s+role|alter\s+default\s+privileges",
    "partial indexes": r"create\s+(unique\s+)?index[^;]*?\)\s*where\b",
    "gist / brin / gin indexes": r"using\s+(gist|brin|gin)|exclude\s+using",
    "identity columns": r"generated\s+(always|by\s+default)\s+as\s+identity",
    "regex match (~, ~*)": r"\s~\*?\s",
    "temp tables": r"create\s+(temp|temporary)\s+table",
}


def python_sql(source: str) -> str:
    """The string literals of a Python module, docstrings left out, one per line."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return "\n".join(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    )


def sql_without_comments(text: str) -> str:
    """SQL or YAML text without Jinja comments and `--` comments."""
    return re.sub(r"--[^\n]*", "", re.sub(r"\{#.*?#\}", "", text, flags=re.S))


def _files(paths: tuple[str, ...], python: bool, root: Path) -> Iterator[Path]:
    suffixes = {".py"} if python else {".sql", ".yml"}
    for name in paths:
        path = root / name
        for file in [path] if path.is_file() else sorted(path.rglob("*")):
            if file.suffix in suffixes and file.is_file():
                yield file


def folder_text(paths: tuple[str, ...], python: bool, root: Path = ROOT) -> str:
    """The SQL a folder holds, as the inventory reads it."""
    read = python_sql if python else sql_without_comments
    return "\n".join(read(file.read_text()) for file in _files(paths, python, root))


def counts(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """Matches of every feature per folder."""
    texts = {column: folder_text(paths, python, root) for column, (paths, python) in FOLDERS.items()}
    return {
        feature: {column: len(re.findall(pattern, text, flags=re.I | re.S)) for column, text in texts.items()}
        for feature, pattern in FEATURES.items()
    }


def markdown(table: dict[str, dict[str, int]]) -> str:
    """The inventory as a markdown table with a total column."""
    lines = ["| feature | " + " | ".join(FOLDERS) + " | total |", "|---|" + "---:|" * (len(FOLDERS) + 1)]
    for feature, per_folder in table.items():
        cells = " | ".join(str(per_folder[column]) for column in FOLDERS)
        lines.append(f"| {feature} | {cells} | {sum(per_folder.values())} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(counts()))
