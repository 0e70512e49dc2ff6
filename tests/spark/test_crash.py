"""A driver killed mid-batch, then a restart from the checkpoint: every row delivered, and the only
duplicates are messages of requests that were in flight at the crash (same messageIds)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.runner import read_source, run_sync

from .conftest import KEY, PEOPLE, create_people, sink_options

pytestmark = pytest.mark.spark

N = 5000
BODY = 150  # messages per request, so the batch needs ~35 requests

CHILD = textwrap.dedent(
    """
    import sys
    from customerio_sink.client.secrets import SecretKey
    from customerio_sink.spark.ledger import Ledger
    from customerio_sink.spark.mapping import MessageMapping
    from customerio_sink.spark.options import SinkOptions
    from customerio_sink.spark.runner import read_source, run_sync
    from customerio_sink.spark.session import get_spark

    url, source, ledger, cp = sys.argv[1:5]
    spark = get_spark("crash-child")
    mapping = MessageMapping(source="cdf", entity="person", user_id="id",
                             traits=("email", "plan", "score"))
    options = SinkOptions(job="crash", mapping=mapping, ledger=Ledger(path=ledger),
                          api_key=SecretKey(%r), endpoint=url, rate_requests=None,
                          max_batch_messages=%d, base_delay_s=0.01, max_delay_s=0.1)
    run_sync(spark, options, read_source(spark, source, kind="cdf", start="1"), checkpoint=cp)
    """
    % (KEY, BODY)
)


def test_killed_driver_restarts_without_losing_or_duplicating(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    source = str(tmp_path / "people")
    create_people(spark, source, N)
    ledger, cp = str(tmp_path / "ledger"), str(tmp_path / "cp")
    emulator.set_faults(latency_ms=150)
    output = tmp_path / "child.log"
    with open(output, "wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, emulator.url, source, ledger, cp],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while emulator.stats().accepted < 6 * 150 and time.monotonic() < deadline:
            assert child.poll() is None, (
                f"the child finished before it could be killed (exit {child.returncode}, "
                f"{emulator.stats().accepted} messages accepted): "
                + output.read_text(errors="replace")[-3000:]
            )
            time.sleep(0.05)  # polling for the crash point, not waiting for a result
        os.killpg(child.pid, signal.SIGKILL)  # the driver, its JVM and its Python workers
    finally:
        child.wait(timeout=60)
    delivered_before = len(emulator.message_id_counts())
    assert 0 < delivered_before < N, "the crash must land mid-batch"

    emulator.clear_faults()
    options = sink_options(tmp_path, emulator, PEOPLE, "crash", max_batch_messages=BODY)
    result = run_sync(
        spark, options, read_source(spark, source, kind="cdf", start="1"), checkpoint=cp
    )
    counts = emulator.message_id_counts()
    assert len(counts) == N
    dupes = [mid for mid, n in counts.items() if n > 1]
    assert all(counts[mid] == 2 for mid in dupes)
    # In flight at the crash: at most one request per sending task (2 task slots).
    assert len(dupes) <= 2 * 160
    assert result.totals["already_final"] >= delivered_before - len(dupes)
    acks = options.ledger.read(spark, "acks")
    assert acks.select("message_id").distinct().count() == N
