"""The package's rooms and their order: which room may import which, and how big a module or a
function may grow. Read from the source (no import), so a new module is checked the day it lands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "customerio_sink"

# Each room and the rooms it may import (lazily inside a function counts too). The engine runs in
# Spark's Python workers and the client in any Python process: neither may reach for Spark.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "__version__": set(),
    "messages": {"errors"},
    "client": {"errors", "messages", "__version__"},
    "engine": {"errors", "messages", "client"},
    "reporting": {"errors", "messages", "client"},
    "emulator": {"__version__"},
    # The catalogue's coverage report names the Spark code and the OpenAPI file it checks.
    "catalog": {"errors", "messages", "client", "spark", "emulator"},
    "spark": {"errors", "messages", "client", "engine", "catalog", "__version__"},
    "migrate": {"errors", "messages", "client", "spark"},
    "notebook": {"errors", "client", "reporting", "spark", "emulator", "__version__"},
}
ENTRY_POINTS = ("streaming_jobs", "benchmarks", "notebooks", "tests")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    # The package's own __init__ is the public surface: it names every room.
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def _room(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "customerio_sink":
                found.update(f"customerio_sink.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_the_rooms_before_its_own(path: Path) -> None:
    room = _room(path)
    assert room in ALLOWED, f"{path}: a new room {room!r}; place it in ALLOWED and the docs"
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in ENTRY_POINTS, f"{path} imports the entry point {name}"
        if top != "customerio_sink" or "." not in name:
            continue
        target = name.split(".")[1]
        assert target == room or target in ALLOWED[room], (
            f"{path} ({room}) imports {name}: {room} may import {sorted(ALLOWED[room])}"
        )


def test_the_rooms_form_no_cycle_below_the_spark_layer() -> None:
    """Everything the engine and the client build on sits strictly before them."""
    order = ["errors", "messages", "client", "engine"]
    for i, room in enumerate(order):
        assert ALLOWED[room] - {"__version__"} <= set(order[:i]), room


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_stay_small(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert source.count("\n") <= MAX_MODULE_LINES, f"{path}: over {MAX_MODULE_LINES} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_FUNCTION_LINES, (
                f"{path}:{node.lineno} {node.name} is {size} lines (at most {MAX_FUNCTION_LINES})"
            )
