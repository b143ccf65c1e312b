"""The ratings SQL files: every statement loads by name and passes parameters only as psycopg2 names."""

from __future__ import annotations

import re

import pytest

from ratings.queries import SQL_DIR, queries

FILES = sorted(p.stem for p in SQL_DIR.glob("*.sql"))


def test_the_ratings_sql_folder_holds_the_statements_of_each_publishing_step() -> None:
    assert FILES == ["alerts", "episodes", "intraday", "monitoring", "overrides", "partitions", "publish", "shadow",
                     "staging", "versions"]


@pytest.mark.parametrize("file", FILES)
def test_every_statement_is_named_and_uses_only_named_parameters(file: str) -> None:
    statements = queries(file)
    assert statements
    for name, text in statements.items():
        assert not text.startswith("--"), f"{file}.{name}: the statement itself comes first"
        # a stray % would make psycopg2 fail (or misread) the statement at run time
        assert "%" not in re.sub(r"%\([a-z_]+\)s|%%", "", text), f"{file}.{name}: bare % in SQL"


def test_a_statement_named_twice_is_refused(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ratings import queries as module

    (tmp_path / "twice.sql").write_text("-- name: a\nselect 1;\n-- name: a\nselect 2;\n", encoding="utf-8")
    monkeypatch.setattr(module, "SQL_DIR", tmp_path)
    with pytest.raises(ValueError, match="named twice"):
        module.queries.__wrapped__("twice")
