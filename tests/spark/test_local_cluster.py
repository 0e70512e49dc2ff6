"""Executors in processes of their own (``local-cluster``: a master and two executor JVMs, each
with its own Python workers), as on a real cluster: the executors write the journal and the
driver reads it; a driver killed mid-batch and restarted delivers every row, duplicates only
what was in flight, and the two executors together stay within one key's budget."""

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

from customerio_sink.emulator import Emulator

from .conftest import KEY, create_people

pytestmark = pytest.mark.spark

N = 3000
BODY = 100  # messages per request: ~30 requests
BUDGET = 12  # requests per second for the key, shared by both executors
MASTER = "local-cluster[2,1,1024]"  # two executors, one core each

CHILD = textwrap.dedent(
    """
    import json, os, sys
    from customerio_sink.client.secrets import SecretKey
    from customerio_sink.spark.ledger import Ledger
    from customerio_sink.spark.mapping import MessageMapping
    from customerio_sink.spark.options import SinkOptions
    from customerio_sink.spark.runner import read_source, run_sync
    from customerio_sink.spark.session import get_spark

    url, source, ledger, cp, out = sys.argv[1:6]
    spark = get_spark("cluster-child", master=%r, shuffle_partitions=2)
    pids = spark.range(0, 4, numPartitions=4).rdd.mapPartitions(lambda _: [os.getpid()]).collect()
    mapping = MessageMapping(source="cdf", entity="person", user_id="id",
                             traits=("email", "plan", "score"))
    options = SinkOptions(job="cluster", mapping=mapping, ledger=Ledger(path=ledger),
                          api_key=SecretKey(%r), endpoint=url, rate_requests=%d,
                          rate_period_s=1.0, max_batch_messages=%d, partitions=2,
                          concurrency=2, base_delay_s=0.01, max_delay_s=0.1)
    result = run_sync(spark, options, read_source(spark, source, kind="cdf", start="1"),
                      checkpoint=cp)
    acks = options.ledger.read(spark, "acks").select("message_id").distinct().count()
    with open(out, "w") as f:
        json.dump({"driver": os.getpid(), "workers": pids, "totals": result.totals,
                   "acks": acks}, f)
    """
    % (MASTER, KEY, BUDGET, BODY)
)


def _child(emu: Emulator, tmp_path: Path, source: str, out: Path) -> subprocess.Popen[bytes]:
    args = [str(tmp_path / "ledger"), str(tmp_path / "cp"), str(out)]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, emu.url, source, *args],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{out.stem}.err", "wb"),
        start_new_session=True,  # its own group: the JVMs and workers are killed with it
    )


def test_two_executor_processes_deliver_exactly_once_across_a_driver_kill(
    spark: Any, tmp_path: Path
) -> None:
    import json

    source = str(tmp_path / "people")
    create_people(spark, source, N)
    with Emulator(keys=(KEY,), rate_limit=BUDGET, rate_window_s=1.0) as emu:
        emu.set_faults(latency_ms=100)
        first = _child(emu, tmp_path, source, tmp_path / "first.json")
        try:
            deadline = time.monotonic() + 300
            while emu.stats().accepted < 5 * BODY and time.monotonic() < deadline:
                assert first.poll() is None, (tmp_path / "first.err").read_text()[-2000:]
                time.sleep(0.05)  # polling for the crash point, not waiting for a result
            os.killpg(first.pid, signal.SIGKILL)  # driver, executors and their workers
        finally:
            first.wait(timeout=60)
        before = len(emu.message_id_counts())
        assert 0 < before < N, "the kill must land mid-batch"

        emu.clear_faults()
        again = _child(emu, tmp_path, source, tmp_path / "again.json")
        assert again.wait(timeout=600) == 0, (tmp_path / "again.err").read_text()[-3000:]
        report = json.loads((tmp_path / "again.json").read_text())
        counts = emu.message_id_counts()
        stats = emu.stats()
    # Executors ran in processes other than the driver's (two executor JVMs).
    assert report["driver"] not in report["workers"]
    assert len(set(report["workers"])) >= 2
    assert len(counts) == N  # every row delivered
    dupes = [mid for mid, n in counts.items() if n > 1]
    assert all(counts[mid] == 2 for mid in dupes)
    assert len(dupes) <= 2 * BODY  # at most one request in flight per executor at the kill
    assert report["acks"] == N  # the driver read every executor's journal into the ledger
    assert report["totals"]["already_final"] >= before - len(dupes)
    # Both executors drew on one budget: Customer.io's window never saw more than it allows.
    assert stats.rate_limited == 0
    assert stats.max_requests_in_window <= BUDGET
