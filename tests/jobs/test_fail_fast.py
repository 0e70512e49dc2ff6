"""Bad options fail in one line, exit 2, before any data is read; the console starts quiet.

One test per class of option: numeric ranges (checked by the flag's parser and again when
``SinkOptions`` is built), trigger and start, locations, and mapping columns missing from the
source (checked when the source schema is known, before the query starts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.emulator import Emulator
from streaming_jobs import sync_events

from .conftest import KEY, create_events

ROOT = Path(__file__).resolve().parents[2]

SPARK_NOT_STARTED = """
import sys
from pyspark import SparkContext
from streaming_jobs import sync_events
code = sync_events.main(sys.argv[1:])
print("exit", code, "gateway", SparkContext._gateway is not None)
"""


def _python(code: str, *argv: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CUSTOMERIO_API_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,  # only stops a hung run
    )


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--max-body-bytes", "8000"], "--max-body-bytes: 8000 is out of range: allowed 32,827"),
        (["--rate-requests", "-5"], "--rate-requests: -5 is out of range: allowed at least 0"),
        (["--trigger", "every now and then"], "--trigger"),
        (["--ledger-schema", "main.cio"], "journal_dir"),  # a location rule
    ],
)
def test_bad_option_exits_2_with_one_line_and_no_spark(
    tmp_path: Path, flags: list[str], needle: str
) -> None:
    argv = [
        "--source",
        str(tmp_path / "events"),
        "--checkpoint",
        str(tmp_path / "cp"),
        "--endpoint",
        "http://127.0.0.1:9",
        "--event-column",
        "event",
    ]
    if "--ledger-schema" not in flags:
        argv += ["--ledger-path", str(tmp_path / "ledger")]
    result = _python(SPARK_NOT_STARTED, *argv, *flags, tmp_path=tmp_path)
    assert result.stdout.strip() == "exit 2 gateway False"  # no JVM was started
    err = result.stderr.strip().splitlines()
    assert len(err) == 1, result.stderr
    assert needle in err[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cp").exists() and not (tmp_path / "ledger").exists()


@pytest.mark.spark
@pytest.mark.parametrize("door", ["foreachBatch", "datasource"])
def test_mapping_column_missing_from_the_source_exits_2_before_anything_is_sent(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], door: str, monkeypatch: Any
) -> None:
    source = str(tmp_path / "events")
    create_events(spark, source, 5)
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    with Emulator(keys=(KEY,)) as emu:
        code = sync_events.main(
            [
                "--source",
                source,
                "--checkpoint",
                str(tmp_path / "cp"),
                "--ledger-path",
                str(tmp_path / "ledger"),
                "--endpoint",
                emu.url,
                "--event-column",
                "event",
                "--user-id-column",
                "uid",
                "--front-door",
                door,
            ]
        )
        assert emu.stats().requests == 0
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == (
        f"sync_events: error: --user-id-column uid: no column 'uid' in {source} "
        "(it has: event_id, user_id, event, props, ts)"
    )
    assert "Traceback" not in out + err
    assert not (tmp_path / "cp" / "commits").exists()  # the query never ran a batch


@pytest.mark.spark
def test_the_console_starts_with_the_jobs_own_line_and_verbose_brings_spark_back(
    spark: Any, tmp_path: Path
) -> None:
    source = str(tmp_path / "events")
    create_events(spark, source, 3)
    argv = [
        "--source",
        source,
        "--ledger-path",
        str(tmp_path / "ledger"),
        "--event-column",
        "event",
        "--dry-run",
    ]
    code = "import sys; from streaming_jobs import sync_events; sys.exit(sync_events.main())"
    quiet = _python(code, *argv, "--checkpoint", str(tmp_path / "cp1"), tmp_path=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    lines = (quiet.stdout + quiet.stderr).strip().splitlines()
    assert lines[0].startswith(f"sync_events: {source} (queue) → dry run"), lines[:5]
    noise = [ln for ln in lines if any(w in ln for w in ("WARN", "log4j", ":: ", "ivy", "Ivy"))]
    assert noise == []
    loud = _python(
        code, *argv, "--checkpoint", str(tmp_path / "cp2"), "--verbose", tmp_path=tmp_path
    )
    assert loud.returncode == 0, loud.stderr
    assert "log4j" in loud.stderr or ":: loading settings" in loud.stderr + loud.stdout
