"""The layout holds: runtime modules never import devtools on import; tests share code through tests/helpers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from common.paths import REPO_ROOT

RUNTIME_PACKAGES = ("common", "ingest", "ml", "ratings", "expectations", "pipeline", "dags")
RUNTIME_FILES = sorted(p for pkg in RUNTIME_PACKAGES for p in (REPO_ROOT / pkg).rglob("*.py"))
TEST_FILES = sorted(p for p in (REPO_ROOT / "tests").rglob("*.py") if "helpers" not in p.parts)


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`, whose body runs only as a command, never on import."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


def import_time_modules(source: str) -> list[str]:
    """Modules a file imports when it is imported: module-level statements, not function bodies."""
    found: list[str] = []
    pending = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.If) and not _is_main_guard(node):
            pending += node.body + node.orelse
        elif isinstance(node, ast.With):
            pending += node.body
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
    return found


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_runtime_module_does_not_import_devtools_at_import_time(path: Path) -> None:
    imported = import_time_modules(path.read_text())
    assert not [m for m in imported if m == "devtools" or m.startswith("devtools.")]


def test_the_check_sees_module_level_imports_and_ignores_function_bodies_and_the_main_guard() -> None:
    source = (
        "import devtools.scratch\n"
        "try:\n    from devtools import embedded_pg\nexcept ImportError:\n    pass\n"
        "def f():\n    from devtools import demo\n"
        "if __name__ == '__main__':\n    from devtools.simulator.cli import main\n"
    )
    assert sorted(import_time_modules(source)) == ["devtools", "devtools.scratch"]


def test_the_simulator_command_alias_loads_no_devtools_module_on_import() -> None:
    code = "import sys, ingest.simulate, common.warehouse; print(sorted(m for m in sys.modules if m.startswith('devtools')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _all_imports(source: str) -> list[str]:
    """Every module a file imports, wherever the import statement is."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_test_modules_share_code_only_through_tests_helpers(path: Path) -> None:
    """A helper imported from another test file (or a conftest) drags that file's tests along."""
    shared = [m for m in _all_imports(path.read_text()) if m == "tests" or m.startswith("tests.")]
    assert [m for m in shared if not m.startswith("tests.helpers.")] == []
