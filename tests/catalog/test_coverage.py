"""The coverage table: generated from the code, committed in docs, complete for every event."""

from __future__ import annotations

from pathlib import Path

import pytest

from customerio_sink.catalog import CATALOG
from customerio_sink.catalog.coverage import (
    coverage_rows,
    main,
    missing_coverage,
    render_document,
)
from tests.catalog.cases import invalid_rows, valid_rows

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "semantic-catalogue.md"


def test_committed_document_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == render_document(ROOT), (
        "regenerate: python -m customerio_sink.catalog.coverage docs/semantic-catalogue.md"
    )


def test_every_event_has_a_model_a_builder_a_constraint_a_test_and_a_notebook() -> None:
    rows = coverage_rows(ROOT)
    assert [row.event for row in rows] == list(CATALOG)
    assert missing_coverage(rows) == []


def test_every_event_has_valid_and_invalid_rows() -> None:
    for event in CATALOG:
        assert len(valid_rows(event)) >= 2, event
        assert len(invalid_rows(event)) >= 1, event


def test_a_missing_test_is_reported() -> None:
    rows = coverage_rows(None)  # an installed package: no tests beside it
    assert all(row.tests == () for row in rows)
    assert f"{rows[0].event}: test" in missing_coverage(rows)
    assert f"{rows[0].event}: notebook" in missing_coverage(rows)


def test_main_writes_the_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "catalogue.md"
    assert main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render_document(ROOT)
    assert main([]) == 2


def test_every_call_and_semantic_event_is_covered_too() -> None:
    from customerio_sink.catalog.coverage_calls import call_coverage_rows, missing_call_coverage
    from customerio_sink.messages import rules, semantic

    rows = call_coverage_rows(ROOT)
    assert [r.name for r in rows] == [*rules.CALL_TYPES, *semantic.SEMANTIC_MODELS]
    assert set(semantic.SEMANTIC_MODELS) == set(rules.SEMANTIC_EVENTS)
    assert missing_call_coverage(rows) == []
    # The table finds what it lists: a checkout without tests or notebooks shows the holes.
    bare = call_coverage_rows(None)
    assert "identify: tests" in missing_call_coverage(bare)
    assert "Report Content Event: notebooks" in missing_call_coverage(bare)
