"""The inventory of PostgreSQL-specific SQL (docs/scaling.md) counts code, not comments or docstrings."""

from __future__ import annotations

from pathlib import Path

from devtools import sql_dialect


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_sql_comments_and_python_docstrings_are_not_counted(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "ratings/sql/x.sql",
        "-- distinct on in a comment\n{# on conflict in Jinja #}\nselect distinct on (a) a from t;\n",
    )
    _write(
        tmp_path,
        "ingest/x.py",
        '"""Module docstring: on conflict, distinct on."""\n'
        "def f():\n"
        '    """Function docstring: on conflict."""\n'
        "    # on conflict in a comment\n"
        '    return "insert into t values (1) on conflict do nothing"\n',
    )

    table = sql_dialect.counts(tmp_path)

    assert table["distinct on"]["ratings/sql"] == 1
    assert table["on conflict (upsert)"]["ratings/sql"] == 0
    assert table["on conflict (upsert)"]["ingest"] == 1
    assert table["distinct on"]["ingest"] == 0


def test_a_dedupe_by_key_array_counts_once(tmp_path: Path) -> None:
    _write(tmp_path, "dbt_project/models/m.sql", "delete from t where k = any(array(select k from n));\n")

    table = sql_dialect.counts(tmp_path)

    assert table["arrays: = any(...), array[], array_agg, unnest, text[]"]["dbt_project"] == 1


def test_the_markdown_table_has_a_row_per_feature_and_totals() -> None:
    table = {feature: dict.fromkeys(sql_dialect.FOLDERS, 1) for feature in sql_dialect.FEATURES}

    lines = sql_dialect.markdown(table).splitlines()

    assert len(lines) == 2 + len(sql_dialect.FEATURES)
    assert lines[2].endswith(f"| {len(sql_dialect.FOLDERS)} |")
