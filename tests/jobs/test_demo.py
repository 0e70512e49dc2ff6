"""``make demo`` (``python -m streaming_jobs.demo``) runs end to end in a fresh process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.spark
def test_demo_prints_its_summary(tmp_path: Path) -> None:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("CUSTOMERIO_API_KEY", None)  # the demo sets its own, for the emulator
    proc = subprocess.run(
        [sys.executable, "-m", "streaming_jobs.demo", "--output", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=1200,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    for section in (
        "=== What the emulator received ===",
        "=== Acknowledgements (ledger acks table) ===",
        "=== Dead letters (8): rows that need a fix before a replay ===",
        "=== Lineage: one row per micro-batch",
    ):
        assert section in out
    assert re.search(r"^duplicates\s+0\s*$", out, re.M)
    assert re.search(r"^messages rejected\s+0\s*$", out, re.M)
    assert re.search(r"^messages accepted\s+732\s*$", out, re.M)
    assert re.search(r"^sync_people\s+236\s*$", out, re.M)  # 200 + 30 + 5 deletes + 1 fix
    assert re.search(r"^sync_events\s+496\s*$", out, re.M)
    assert "traits.email: not a valid email address" in out
    assert "properties: malformed JSON" in out
    assert "unchanged=10,update_preimage=41" in out
    assert "[FAILED]" not in out
    assert "demo OK: 732 messages accepted" in out
