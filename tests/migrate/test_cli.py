"""The ``migrate`` and ``trace`` command lines: one-line errors and exit codes, on real Delta."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streaming_jobs import cli, migrate, trace

pytestmark = pytest.mark.spark

LINE = '{"type": "track", "userId": "u1", "event": "E", "messageId": "m1", "timestamp": "%s"}\n'


def test_migrate_import_reports_and_names_the_bad_row(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(LINE % "2024-05-01T12:00:00.000Z")
    table = str(tmp_path / "queue")
    assert migrate.main(["import", "--export", str(good), "--table", table], spark=spark) == 0
    assert "1 new, 0 already there" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(LINE % "2024-05-01T12:00:00.000Z" + LINE % "yesterday")
    assert migrate.main(["import", "--export", str(bad), "--table", table], spark=spark) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.jsonl:2: timestamp 'yesterday' is not ISO-8601" in err


def test_trace_cli_one_line_errors(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--ledger-path", str(tmp_path / "none"), "--job-name", "j", "--key", "u1"]
    assert trace.main(argv, spark=spark) == 2
    assert "no ledger tables" in capsys.readouterr().err
    assert trace.main([*argv[:4], "--row-id", "e1"], spark=spark) == 2
    assert "--row-id needs --source" in capsys.readouterr().err
    assert cli.run(["trace", "--help"]) == 0
    assert "--message-id" in capsys.readouterr().out
