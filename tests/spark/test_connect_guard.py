"""Nothing outside the classic-only places reaches for SparkContext, RDDs or JVM handles, which
a Spark Connect session (serverless, shared-access clusters) does not have."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLASSIC = re.compile(r"sparkContext|SparkContext|\.rdd\b|\b_jvm\b|_jsc\b|_jsparkSession")

# Lines naming them (docstrings included). Each use is guarded (try/except, hasattr, or only
# on a classic session); a new one must be guarded too and listed here with its count.
ALLOWED = {
    "customerio_sink/spark/session.py": 6,  # builds the local classic session (+ docstring)
    "customerio_sink/spark/writer.py": 3,  # run id / task slots, Connect fallbacks (+ docstring)
    "customerio_sink/spark/ledger_ingest.py": 2,  # InheritableThread only with a classic context
    "customerio_sink/spark/datasource.py": 2,  # setActiveSession, suppressed; hasattr check
}


def classic_uses() -> dict[str, int]:
    found: dict[str, int] = {}
    for package in ("customerio_sink", "streaming_jobs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line in path.read_text(encoding="utf-8").splitlines():
                code = line.split("#", 1)[0]
                if CLASSIC.search(code) and not code.strip().startswith(('"', "'")):
                    found[rel] = found.get(rel, 0) + 1
    return found


def test_classic_only_handles_stay_in_their_guarded_places() -> None:
    found = classic_uses()
    extra = {f: n for f, n in found.items() if n > ALLOWED.get(f, 0)}
    assert not extra, f"SparkContext/RDD/JVM handles beyond the guarded places: {extra}"
