"""``python -m streaming_jobs.migrate``, each subcommand run as the command line (``main(argv)``
in this process, on the session's Spark) against local Delta tables and the emulator: exit codes,
what the emulator received, and what the ledger holds.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import customerio_sink as cio
from customerio_sink.emulator import Emulator
from streaming_jobs import migrate
from tests.migrate.test_migrate import EVENTS, KEY, _history, _old_pipeline, _write_history

pytestmark = pytest.mark.spark

ENV = "MIGRATE_CLI_TEST_KEY"  # the key reaches the CLI through the environment only
MAPPING = json.dumps(EVENTS.to_mapping().to_dict())


def _run(spark: Any, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = migrate.main(list(argv), spark=spark)
    out, err = capsys.readouterr()
    assert KEY not in out + err  # the key is never printed
    return code, out, err


def _ledger(spark: Any, ledger: str, table: str) -> Any:
    return cio.Ledger(path=ledger).read(spark, table)


def test_cli_import_then_backfill_sends_each_message_once_and_fills_the_ledger(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    rows = _history(n_old=10, n_recent=1)
    history, queue, ledger = (str(tmp_path / n) for n in ("history", "old_messages", "ledger"))
    _write_history(spark, history, rows, commits=2)
    backfill = [
        "backfill", "--source", history, "--mapping", MAPPING, "--job-name", "hist",
        "--checkpoint", str(tmp_path / "cp"), "--already-sent", queue, "--ledger-path", ledger,
        "--api-key-env", ENV, "--files-per-batch", "1", "--rate-requests", "600",
    ]  # fmt: skip
    with Emulator(keys=(KEY,)) as emu:
        _old_pipeline(emu, rows[:4], tmp_path / "export.jsonl")
        code, out, _ = _run(
            spark, capsys, "import", "--export", str(tmp_path / "export.jsonl"), "--table", queue
        )
        assert code == 0 and "4 new, 0 already there" in out

        code, out, err = _run(spark, capsys, *backfill, "--endpoint", emu.url)
        assert code == 0, err
        assert "1 inside the 72-hour campaign-trigger window, 4 already delivered" in out
        assert "at most 300 requests per 3 s" in out  # half the budget left for live traffic
        # Run again (a resumed or repeated backfill): nothing more is sent.
        code, out, err = _run(spark, capsys, *backfill, "--endpoint", emu.url)
        assert code == 0, err

        tracks = Counter(
            (m["userId"], m["event"], m["timestamp"][:19]) for m in emu.messages("track")
        )
        assert emu.stats().duplicates == 0
        assert max(tracks.values()) == 1 and len(tracks) == 10  # 4 by the old client, 6 by us
    acked = {r.message_id for r in _ledger(spark, ledger, "acks").collect()}
    assert len(acked) == 6
    skipped = _ledger(spark, ledger, "skipped").collect()
    assert Counter(r.reason for r in skipped) == {"already_delivered": 4}
    parked = _ledger(spark, ledger, "retry_queue").collect()
    assert [r.error_class for r in parked] == ["HeldBack"]  # the recent row waits (72 hours)


def test_cli_backfill_refuses_bad_input_with_exit_2_and_one_line(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    common = [
        "backfill", "--source", str(tmp_path / "h"), "--job-name", "j",
        "--checkpoint", str(tmp_path / "cp"), "--ledger-path", str(tmp_path / "l"),
        "--api-key-env", ENV, "--endpoint", "http://127.0.0.1:9",
    ]  # fmt: skip
    code, _, err = _run(spark, capsys, *common, "--mapping", "{not json")
    assert code == 2 and err.count("\n") == 1 and "--mapping: not a mapping JSON" in err
    code, _, err = _run(spark, capsys, *common, "--mapping", MAPPING)
    assert code == 2 and err.count("\n") == 1 and ENV in err  # no key: names the variable
    code, _, err = _run(spark, capsys, *common)  # --mapping missing: argparse's exit 2
    assert code == 2 and "--mapping" in err
    assert not (tmp_path / "l").exists()  # nothing was written


def test_cli_rekey_aliases_identifies_and_records_the_key_map(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    pairs, people, ledger = (str(tmp_path / n) for n in ("pairs", "people", "ledger"))
    spark.createDataFrame(
        [("legacy-1", "user-1"), ("legacy-2", "user-2")], "legacy_id STRING, user_id STRING"
    ).write.format("delta").save(pairs)
    spark.createDataFrame(
        [("user-1", "a@example.com"), ("user-2", "b@example.com")], "user_id STRING, email STRING"
    ).write.format("delta").save(people)
    argv = [
        "rekey", "--pairs", pairs, "--old-column", "legacy_id", "--new-column", "user_id",
        "--traits-from", people, "--traits", "email", "--job-name", "rekey",
        "--ledger-path", ledger, "--api-key-env", ENV, "--rate-requests", "0",
    ]  # fmt: skip
    with Emulator(keys=(KEY,)) as emu:
        code, out, err = _run(spark, capsys, *argv, "--endpoint", emu.url)
        assert code == 0, err
        assert "re-keyed: 2 aliases acked, 2 identifies acked; 2 pairs in the key map" in out
        code, out, err = _run(spark, capsys, *argv, "--endpoint", emu.url)  # again: no resend
        assert code == 0, err
        assert "2 pairs in the key map" in out
        aliases = sorted((m["previousId"], m["userId"]) for m in emu.messages("alias"))
        identifies = {m["userId"]: m["traits"]["email"] for m in emu.messages("identify")}
        assert emu.stats().duplicates == 0
    assert aliases == [("legacy-1", "user-1"), ("legacy-2", "user-2")]
    assert identifies == {"user-1": "a@example.com", "user-2": "b@example.com"}
    key_map = _ledger(spark, ledger, "key_map").collect()
    assert sorted((r.old_key, r.new_key) for r in key_map) == aliases
    assert _ledger(spark, ledger, "acks").count() == 4

    # One old id mapped to two new ones: refused before anything is sent (exit 2, one line).
    extra = spark.createDataFrame([("legacy-1", "user-9")], "legacy_id STRING, user_id STRING")
    extra.write.format("delta").mode("append").save(pairs)
    code, _, err = _run(spark, capsys, *argv, "--endpoint", "http://127.0.0.1:9")
    assert code == 2 and err.count("\n") == 1 and "maps to 2 new ids" in err


def test_cli_cutover_reports_differences_and_sends_nothing(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _history(n_old=5, n_recent=0)
    source, queue = str(tmp_path / "events"), str(tmp_path / "old_messages")
    _write_history(spark, source, rows, commits=1)
    with Emulator(keys=(KEY,)) as emu:
        sent = [list(r) for r in rows[:3]]
        sent[0][3] = 999  # the old pipeline sent another amount for the first event
        _old_pipeline(emu, [tuple(r) for r in sent], tmp_path / "export.jsonl")
        before = len(emu.messages())
        code, _, err = _run(
            spark, capsys, "import", "--export", str(tmp_path / "export.jsonl"), "--table", queue
        )
        assert code == 0, err
        argv = ["cutover", "--source", source, "--mapping", MAPPING, "--job-name", "events"]
        code, out, err = _run(spark, capsys, *argv, "--old-messages", queue)
        assert code == 0, err
        assert len(emu.messages()) == before  # a dry run: nothing reached Customer.io
    assert (
        "cut-over check: 2 calls the same, 1 different, 0 only sent by the old pipeline, "
        "2 only sent by the sink, 0 rows the sink would dead-letter"
    ) in out
    assert "fields amount" in out
    code, _, err = _run(spark, capsys, *argv, "--old-messages", str(tmp_path / "nowhere"))
    assert code == 1 and "migrate cutover" in err
