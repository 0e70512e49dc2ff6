"""The pure pieces of the sink: net change per key, and the delivery journal."""

from __future__ import annotations

from pathlib import Path

from customerio_sink.engine import journal
from customerio_sink.engine.collapse import collapse_changes


def _collapse(
    rows: list[tuple[str, str, int, str]],
) -> tuple[list[tuple[str, str, int, str]], dict[str, int]]:
    out = collapse_changes(
        rows,
        key=lambda r: r[0],
        change=lambda r: r[1],
        version=lambda r: r[2],
        mapped_hash=lambda r: r[3],
    )
    return out.rows, out.skipped


def test_updated_then_deleted_ends_deleted() -> None:
    rows, skipped = _collapse(
        [
            ("a", "update_preimage", 2, "h1"),
            ("a", "update_postimage", 2, "h2"),
            ("a", "delete", 3, "h2"),
        ]
    )
    assert rows == [("a", "delete", 3, "h2")]
    assert skipped == {"update_preimage": 1, "superseded": 1}


def test_deleted_then_reinserted_ends_present() -> None:
    rows, _ = _collapse([("a", "insert", 5, "h9"), ("a", "delete", 4, "h1")])
    assert rows == [("a", "insert", 5, "h9")]


def test_update_without_mapped_change_is_skipped_as_unchanged() -> None:
    rows, skipped = _collapse(
        [
            ("a", "update_postimage", 2, "same"),
            ("a", "update_preimage", 2, "same"),
            ("b", "update_preimage", 2, "x"),
            ("b", "update_postimage", 2, "y"),
        ]
    )
    assert rows == [("b", "update_postimage", 2, "y")]
    assert skipped == {"update_preimage": 2, "unchanged": 1}


def test_two_updates_back_to_the_start_are_unchanged_but_a_net_change_is_sent() -> None:
    rows, skipped = _collapse(
        [
            ("a", "update_preimage", 2, "h1"),
            ("a", "update_postimage", 2, "h2"),
            ("a", "update_preimage", 3, "h2"),
            ("a", "update_postimage", 3, "h1"),
        ]
    )
    assert rows == [] and skipped == {"update_preimage": 2, "superseded": 1, "unchanged": 1}


def test_every_row_is_accounted_for() -> None:
    rows = [
        (f"k{i % 7}", ch, v, f"h{i % 3}")
        for i, (ch, v) in enumerate(
            [("insert", 1), ("update_preimage", 2), ("update_postimage", 2), ("delete", 3)] * 10
        )
    ]
    out, skipped = _collapse(rows)
    assert len(out) + sum(skipped.values()) == len(rows)
    assert len({r[0] for r in out}) == len(out)  # at most one call per key


def test_journal_keeps_final_outcomes_across_attempts_and_ignores_torn_lines(
    tmp_path: Path,
) -> None:
    root = str(tmp_path)
    first = journal.JournalWriter(root, "job/run", 3, 0)
    first.write({"outcome": "acked", "ids": ["m1", "m2"]})
    first.write({"outcome": "request", "status": 200})
    first.close()
    second = journal.JournalWriter(root, "job/run", 3, 0)
    second.write({"outcome": "dead", "ids": ["m3"]})
    second.close()
    part = next(journal.batch_dir(root, "job/run", 3).glob("part-*"))
    with open(part, "ab") as fh:
        fh.write(b'{"outcome": "acked", "ids": ["m4"')  # killed mid-write
    assert journal.final_message_ids(root, "job/run", 3) == {"m1", "m2", "m3"}
    assert journal.final_message_ids(root, "job/run", 4) == set()


def test_journal_commit_markers_and_pruning(tmp_path: Path) -> None:
    root = str(tmp_path)
    for batch in (0, 1, 2):
        journal.JournalWriter(root, "j/r", batch, 0).write(
            {"outcome": "acked", "ids": [str(batch)]}
        )
    journal.write_commit(root, "j/r", 0, {"rows_in": 1})
    journal.write_commit(root, "j/r", 2, {"rows_in": 3})
    assert journal.committed_batches(root, "j/r") == [0, 2]
    assert journal.read_commit(root, "j/r", 2) == {"rows_in": 3}
    assert journal.prune_before(root, "j/r", 2) == 2
    assert journal.committed_batches(root, "j/r") == [2]
