"""No key anywhere a job leaves a trace: ``python -m streaming_jobs.sync_events`` in its own
process (its own JVM, ``--verbose`` so Spark's and log4j's output is shown), with the API key
and a payload key in its environment, ``--metrics`` and ``--payload-key``; then its stdout and
stderr, every ledger and operations table (metrics, key audit included) and every file under the
run's directories are searched for the keys, the API key also in its Basic-auth form."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.ledger import TABLES, Ledger
from customerio_sink.spark.ops_tables import OPS_TABLES
from customerio_sink.spark.protect import generate_key, is_encrypted

from .conftest import KEY, create_events

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]


def _forms(key: str) -> list[str]:
    return [key, base64.b64encode(f"{key}:".encode()).decode()]


def _run_job(tmp_path: Path, url: str, source: str, payload_key: str) -> str:
    state = tmp_path / "state"
    argv = [
        *("--source", source, "--checkpoint", str(state / "checkpoint")),
        *("--ledger-path", str(state / "ledger"), "--endpoint", url),
        *("--event-column", "event", "--properties-json", "props"),
        *("--timestamp-column", "ts", "--row-id-column", "event_id"),
        *("--metrics", "--payload-key", "env:CIO_TEST_PAYLOAD_KEY", "--verbose"),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "CUSTOMERIO_API_KEY": KEY,
        "CIO_TEST_PAYLOAD_KEY": payload_key,
        "SPARK_LOCAL_DIRS": str(tmp_path / "spark-local"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "streaming_jobs.sync_events", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=900,
        check=False,
    )
    output = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, output[-3000:]
    return output


def test_a_job_run_leaves_no_key_in_output_tables_or_files(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    payload_key = generate_key().reveal()
    source = str(tmp_path / "events")
    create_events(spark, source, 20)
    output = _run_job(tmp_path, emulator.url, source, payload_key)
    assert "sync_events: done in" in output and "rows 22, acks 20, dead letters 2" in output
    assert "Ivy" in output or "WARN" in output or "log4j" in output  # the JVM's output is here
    assert emulator.stats().accepted == 20  # the key was used: it reached Customer.io

    ledger = Ledger(path=str(tmp_path / "state" / "ledger"))
    texts = [output]
    read: list[str] = []
    for name in (*TABLES, *OPS_TABLES):
        try:
            rows = ledger.read(spark, name).collect()
        except Exception:  # a table this run had no reason to create
            continue
        read.append(name)
        texts.extend(str(r.asDict()) for r in rows)
    assert {"acks", "dead_letters", "lineage", "requests", "metrics", "key_audit"} <= set(read)
    assert ledger.read(spark, "metrics").count() >= 1
    [audit] = ledger.read(spark, "key_audit").collect()
    assert (audit.key_source, audit.secret_name) == ("env", "CUSTOMERIO_API_KEY")
    letters = ledger.read(spark, "dead_letters").collect()
    assert len(letters) == 2 and all(is_encrypted(r.payload) for r in letters)

    blob = "\n".join(texts)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any("_delta_log" in p.parts for p in files)
    for form in [*_forms(KEY), payload_key]:
        assert form not in blob, form[:4]
        hits = [str(p) for p in files if form.encode() in p.read_bytes()]
        assert not hits, hits
