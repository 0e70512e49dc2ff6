"""The coverage of the Pipelines calls and of Customer.io's own semantic events, from the code.

For each of ``identify``, ``track``, ``page``, ``screen``, ``group``, ``alias`` and each event of
:data:`customerio_sink.messages.rules.SEMANTIC_EVENTS`: its pydantic model, the client method that
builds
it, the Spark code that makes or checks it before sending, where the OpenAPI file the package
ships describes it, and the tests and notebooks that name it. ``docs/semantic-catalogue.md``
holds the table (see :mod:`customerio_sink.catalog.coverage`); a test requires every cell filled.

Tests are files under ``tests/`` naming the call or event in double quotes; notebooks are the
notebooks naming a call as code (```identify```, ``.identify(``, ``"identify"``) or an event by
its name.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from customerio_sink.catalog.coverage import source_files
from customerio_sink.client.calls import MessageCalls
from customerio_sink.messages import models, rules, semantic

__all__ = ["CallCoverageRow", "call_coverage_rows", "missing_call_coverage", "render_call_table"]

TESTS_DIR = "tests"
NOTEBOOKS_DIR = "notebooks"


@dataclass(frozen=True)
class CallCoverageRow:
    """What covers one call or semantic event (empty where nothing does)."""

    name: str
    kind: str  # "call" or "semantic event"
    model: str
    builder: str
    spark: str
    openapi: str
    tests: tuple[str, ...]
    notebooks: tuple[str, ...]


def _naming(pattern: re.Pattern[str], files: list[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(name for name, text in files if pattern.search(text))


@cache
def _openapi() -> tuple[frozenset[str], str]:
    """(the paths of the OpenAPI file the package ships, its whole text)."""
    from customerio_sink.emulator.validation import packaged_openapi_file

    text = Path(packaged_openapi_file()).read_text(encoding="utf-8")
    return frozenset(json.loads(text)["paths"]), text


def _builder_of(model: type) -> str:
    """The client method whose code builds ``model``."""
    for name, method in inspect.getmembers(MessageCalls, inspect.isfunction):
        if name.startswith("_"):
            continue
        if re.search(rf"\b{model.__name__}\b", inspect.getsource(method)):
            return f"MessageCalls.{name}"
    return ""


def _semantic_checks(event: str) -> int:
    """How many checks :mod:`customerio_sink.spark.mapping_semantic` makes for ``event``."""
    fields = rules.SEMANTIC_FIELDS.get(event, {})
    return len(rules.SEMANTIC_EVENTS[event]) + sum(
        1 + (allowed is not None) for _, allowed in fields.values()
    )


def _plural(n: int, text: str) -> str:
    return text.format(n) + ("" if n == 1 else "s")


def call_coverage_rows(root: Path | None = None) -> list[CallCoverageRow]:
    """One row per Pipelines call, then one per semantic event; ``root`` is the checkout."""
    from customerio_sink.spark.mapping_queue import queue_builders

    tests = source_files(root, TESTS_DIR, (".py",)) if root else []
    notebooks = source_files(root, NOTEBOOKS_DIR, (".py", ".ipynb")) if root else []
    paths, spec = _openapi()
    builders = queue_builders()
    rows = []
    for call in rules.CALL_TYPES:
        model = getattr(models, call.capitalize(), None)
        quoted = re.compile(rf'\\?"{call}\\?"')
        as_code = re.compile(rf'`{call}`|\.{call}\(|\\?"{call}\\?"')
        rows.append(
            CallCoverageRow(
                name=call,
                kind="call",
                model=f"models.{model.__name__}" if model else "",
                builder=_builder_of(model) if model else "",
                spark=f"mapping_queue.{builders[call]}" if call in builders else "",
                openapi=f"/{call}" if f"/{call}" in paths else "",
                tests=_naming(quoted, tests),
                notebooks=_naming(as_code, notebooks),
            )
        )
    for event, semantic_model in semantic.SEMANTIC_MODELS.items():
        quoted = re.compile(rf'\\?"{re.escape(event)}\\?"')
        rows.append(
            CallCoverageRow(
                name=event,
                kind="semantic event",
                model=f"semantic.{semantic_model.__name__}",
                builder=_builder_of(semantic_model),
                spark=_plural(_semantic_checks(event), "mapping_semantic: {} check"),
                openapi="/track (named)" if event in spec else "",
                tests=_naming(quoted, tests),
                notebooks=_naming(re.compile(re.escape(event)), notebooks),
            )
        )
    return rows


def missing_call_coverage(rows: Sequence[CallCoverageRow]) -> list[str]:
    """``"<name>: <what>"`` for every call or event lacking a cell."""
    out = []
    for row in rows:
        for what in ("model", "builder", "spark", "openapi", "tests", "notebooks"):
            if not getattr(row, what):
                out.append(f"{row.name}: {what}")
    return out


def render_call_table(rows: Sequence[CallCoverageRow]) -> str:
    """The Markdown table of ``rows``."""
    lines = [
        "| Call or event | Kind | Model | Builder | Spark | OpenAPI | Tests | Notebooks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = (
            f"`{row.name}`" if row.kind == "call" else row.name,
            row.kind,
            f"`{row.model}`" if row.model else "—",
            f"`{row.builder}`" if row.builder else "—",
            f"`{row.spark}`" if row.spark else "—",
            f"`{row.openapi}`" if row.openapi else "—",
            f"{len(row.tests)} files" if row.tests else "—",
            ", ".join(f"`{Path(n).name}`" for n in row.notebooks) or "—",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
