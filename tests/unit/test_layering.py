"""Dependencies run one way between the packages, read from the source (nothing is imported)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.paths import REPO_ROOT

RUNTIME = ("common", "ingest", "ml", "ratings", "expectations", "pipeline", "dags", "desk")
# What ratings may use of ml: the model's scoring interface, and the one PSI.
ML_FOR_RATINGS = {"ml.registry", "ml.scale", "ml.pyfunc_model", "ml.evaluate"}


def _files(package: str) -> list[Path]:
    return sorted((REPO_ROOT / package).rglob("*.py"))


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The module names an import statement reads (a relative one keeps its leading dots)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = "." * node.level + (node.module or "")
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _is_main_guard(node: ast.AST) -> bool:
    """`if __name__ == "__main__":`, whose body runs only as a command, never on import."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


def _imports(path: Path, module_level: bool) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in a file; with module_level, only those run when it is imported."""
    def walk(node: ast.AST) -> Iterator[ast.AST]:
        for child in ast.iter_child_nodes(node):
            if module_level and (isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                                 or _is_main_guard(child)):
                continue
            yield child
            yield from walk(child)

    for node in walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for module in _imported(node):
                yield node.lineno, module


def _within(module: str, packages: tuple[str, ...] | set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _offenders(packages: tuple[str, ...], forbidden: tuple[str, ...], module_level: bool) -> list[str]:
    return [f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
            for package in packages for path in _files(package)
            for line, module in _imports(path, module_level) if _within(module, forbidden)]


def test_ml_never_imports_ratings() -> None:
    assert _offenders(("ml",), ("ratings",), module_level=False) == []


def test_ratings_uses_only_the_scoring_interface_of_ml() -> None:
    used = {module.split(".", 2)[0] + "." + module.split(".", 2)[1]
            for path in _files("ratings") for _, module in _imports(path, module_level=False)
            if module.startswith("ml.")}
    assert used and used <= ML_FOR_RATINGS, sorted(used - ML_FOR_RATINGS)


# What the credit desk may use: common, and the read side of ratings (nothing of ml, ingest, pipeline).
DESK_MAY_NOT_USE = ("ml", "ingest", "pipeline", "expectations", "dags", "ratings.publish", "ratings.scoring",
                    "ratings.staging", "ratings.versions", "ratings.episodes", "ratings.monitoring")


def test_desk_uses_only_common_and_the_read_side_of_ratings() -> None:
    assert _offenders(("desk",), DESK_MAY_NOT_USE, module_level=False) == []


def test_nothing_imports_the_desk() -> None:
    others = tuple(p for p in RUNTIME if p != "desk")
    assert _offenders(others, ("desk",), module_level=False) == []


def test_no_runtime_package_imports_tests_benchmarks_or_devtools_when_loaded() -> None:
    # devtools is reached only from inside functions (the embedded warehouse default) and command guards
    assert _offenders(RUNTIME, ("tests", "bench", "devtools"), module_level=True) == []


def test_test_modules_share_code_only_through_tests_helpers() -> None:
    """A helper imported from another test file (or a conftest) drags that file's tests along."""
    test_files = [p for p in _files("tests") if "helpers" not in p.relative_to(REPO_ROOT).parts]
    offenders = [f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
                 for path in test_files for line, module in _imports(path, module_level=False)
                 if _within(module, ("tests",)) and not _within(module, ("tests.helpers",))]
    assert offenders == []


@pytest.mark.parametrize("name", ["psi", "load_champion", "numeric_column", "identifier", "_num"])
def test_one_definition_of_each_shared_helper(name: str) -> None:
    defined = [f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
               for package in RUNTIME for path in _files(package)
               for node in ast.parse(path.read_text(encoding="utf-8")).body
               if isinstance(node, ast.FunctionDef) and node.name == name]
    assert len(defined) <= 1, defined


def test_runtime_packages_import_absolutely_so_the_checks_see_every_dependency() -> None:
    relative = [f"{path.relative_to(REPO_ROOT)}:{line}" for package in RUNTIME for path in _files(package)
                for line, module in _imports(path, module_level=False) if module.startswith(".")]
    assert relative == []


def test_the_import_reader_sees_imports_inside_functions_unless_asked_for_module_level(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("import os\n\nclass C:\n    from ml import scale\n\ndef f():\n    from ratings import publish\n"
                      "\nif __name__ == '__main__':\n    import devtools\n", encoding="utf-8")
    assert [m for _, m in _imports(source, module_level=False)] == [
        "os", "ml", "ml.scale", "ratings", "ratings.publish", "devtools"]
    assert [m for _, m in _imports(source, module_level=True)] == ["os", "ml", "ml.scale"]
