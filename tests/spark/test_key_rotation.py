"""Keys read again before every micro-batch: rotation without a restart, the rotation window's
one fallback after a 401, the key audit, and no key anywhere a run leaves a trace."""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.client.pipelines import CustomerIOClient
from customerio_sink.client.secrets import RotatingKey, SecretKey
from customerio_sink.emulator import Emulator
from customerio_sink.errors import AuthenticationError
from customerio_sink.spark.keys import KeyRotation, KeySource
from customerio_sink.spark.metrics import install_metrics
from customerio_sink.spark.runner import read_source
from customerio_sink.spark.writer import CustomerIOWriter

from .conftest import EVENTS, sink_options

pytestmark = pytest.mark.spark

KEY_A = "rotation-key-alpha-5c1e"
KEY_B = "rotation-key-bravo-9d07"
ENV = "CIO_TEST_ROTATING_KEY"


def _append_events(spark: Any, path: str, batch: int) -> None:
    ts = datetime.now(timezone.utc).isoformat()
    rows = [(f"e{batch}-{i}", f"u{i}", "Order Completed", '{"n": 1}', ts) for i in range(3)]
    spark.createDataFrame(
        rows, "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING"
    ).write.format("delta").mode("append").save(path)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def rotated_run(spark: Any, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    """One streaming query, three micro-batches: key A; the secret now holds B while
    Customer.io still accepts only A (the window's fallback); Customer.io accepts only B."""
    tmp_path: Path = tmp_path_factory.mktemp("rotation")
    capture = _Capture()
    root = logging.getLogger("customerio_sink")
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    mp = pytest.MonkeyPatch()
    mp.setenv(ENV, KEY_A)
    source = str(tmp_path / "events")
    try:
        with Emulator(keys=(KEY_A,)) as emu:
            opts = sink_options(
                tmp_path,
                emu,
                EVENTS,
                "rotating",
                api_key=SecretKey(KEY_A),
                key_source=KeySource.env(ENV),
                partitions=1,  # one sending task per batch: one 401 in the window
            )
            writer = CustomerIOWriter(opts)
            metrics = install_metrics(spark, opts)
            _append_events(spark, source, 0)
            query = (
                read_source(spark, source, kind="queue")
                .writeStream.queryName(opts.job)
                .foreachBatch(writer)
                .option("checkpointLocation", str(tmp_path / "cp"))
                .start()
            )
            try:
                query.processAllAvailable()
                mp.setenv(ENV, KEY_B)  # rotated in the secret store, not yet at Customer.io
                _append_events(spark, source, 1)
                query.processAllAvailable()
                emu.pipelines.config = dataclasses.replace(emu.pipelines.config, keys=(KEY_B,))
                _append_events(spark, source, 2)
                query.processAllAvailable()
                assert metrics.wait_for(opts.job, {0, 1, 2})
            finally:
                query.stop()
                spark.streams.removeListener(metrics)
            yield {
                "options": opts,
                "writer": writer,
                "emulator_counts": emu.message_id_counts(),
                "statuses": [r.status for r in emu.request_log()],
                "logs": capture.lines,
                "tmp_path": tmp_path,
            }
    finally:
        mp.undo()
        root.removeHandler(capture)
        root.setLevel(old_level)


def test_a_running_job_switches_keys_between_batches(
    spark: Any, rotated_run: dict[str, Any]
) -> None:
    opts = rotated_run["options"]
    counts = rotated_run["emulator_counts"]
    assert len(counts) == 9 and set(counts.values()) == {1}  # every row delivered, once
    assert [b["acked"] for b in rotated_run["writer"].history] == [3, 3, 3]
    assert rotated_run["statuses"].count(401) == 1  # batch 1: new key refused, old key sent
    audit = opts.ledger.read(spark, "key_audit").orderBy("batch_id").collect()
    a, b = SecretKey(KEY_A).fingerprint(), SecretKey(KEY_B).fingerprint()
    assert [(r.batch_id, r.fingerprint, r.previous_fingerprint, r.rotated) for r in audit] == [
        (0, a, None, False),
        (1, b, a, True),
        (2, b, a, False),
    ]
    assert {(r.job, r.key_source, r.secret_name) for r in audit} == {("rotating", "env", ENV)}
    assert all(r.read_at is not None for r in audit)


def _secret_forms(key: str) -> list[str]:
    return [key, base64.b64encode(f"{key}:".encode()).decode()]


def test_no_key_in_logs_ledger_rows_or_files_of_a_run(
    spark: Any, rotated_run: dict[str, Any]
) -> None:
    from customerio_sink.spark.ledger import TABLES
    from customerio_sink.spark.ops_tables import OPS_TABLES

    opts = rotated_run["options"]
    logs = "\n".join(rotated_run["logs"])
    assert "changed (fingerprint" in logs  # the driver said the key rotated
    texts = [logs, repr(opts), repr(rotated_run["writer"])]
    assert opts.ledger.read(spark, "metrics").count() == 3  # the metrics are searched too
    for name in list(TABLES) + list(OPS_TABLES):
        try:
            rows = opts.ledger.read(spark, name).collect()
        except Exception:  # a table this run had no reason to create
            continue
        texts.extend(str(r.asDict()) for r in rows)
    texts.extend(str(b) for b in rotated_run["writer"].history)
    blob = "\n".join(texts)
    files = b"".join(
        p.read_bytes() for p in Path(rotated_run["tmp_path"]).rglob("*") if p.is_file()
    )
    for key in (KEY_A, KEY_B):
        for form in _secret_forms(key):
            assert form not in blob
            assert form.encode() not in files
    assert len(texts) > 10


def test_a_401_with_the_new_key_falls_back_to_the_old_key_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with Emulator(keys=(KEY_A,)) as emu:
        with CustomerIOClient(RotatingKey(KEY_B, previous=KEY_A), endpoint=emu.url) as client:
            client.track(user_id="u1", event="Clicked")
            client.track(user_id="u2", event="Clicked")  # keeps the old key: no second 401
        assert [r.status for r in emu.request_log()] == [401, 200, 200]
        assert "falling back to the previous key once" in caplog.text
        for form in _secret_forms(KEY_A) + _secret_forms(KEY_B):
            assert form not in caplog.text
        with (
            CustomerIOClient(RotatingKey(KEY_B), endpoint=emu.url) as client,
            pytest.raises(AuthenticationError),  # no window: the 401 stands
        ):
            client.track(user_id="u3", event="Clicked")


def test_the_rotation_window_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setenv(ENV, KEY_A)
    rotation = KeyRotation(KeySource.env(ENV), window_s=60, clock=lambda: now[0])
    key, rotated = rotation.refresh()
    assert key == SecretKey(KEY_A) and key.previous is None and not rotated
    monkeypatch.setenv(ENV, KEY_B)
    key, rotated = rotation.refresh()
    assert key == SecretKey(KEY_B) and key.previous == SecretKey(KEY_A) and rotated
    now[0] += 61
    key, rotated = rotation.refresh()
    assert key.previous is None and not rotated
    import pickle

    again = pickle.loads(pickle.dumps(RotatingKey(KEY_B, previous=KEY_A)))
    assert again.previous == SecretKey(KEY_A) and "rotation-key" not in repr(again)


def test_where_the_key_cannot_be_read_again_the_starting_key_is_kept(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # On Spark Connect foreachBatch runs in a process of the server: the job's environment
    # variable is not there. Before, every batch failed with "CUSTOMERIO_API_KEY is not set".
    from customerio_sink.errors import ConfigError

    monkeypatch.delenv("CIO_TEST_GONE_KEY", raising=False)
    started = SecretKey("s" * 24)
    rotation = KeyRotation(KeySource.env("CIO_TEST_GONE_KEY"))
    with caplog.at_level(logging.WARNING, logger="customerio_sink"):
        for _ in range(3):
            key, rotated = rotation.refresh(started)
            assert key == started and not rotated
    warnings = [r for r in caplog.records if "cannot be read again" in r.getMessage()]
    assert len(warnings) == 1  # said once, with a fingerprint, never the key
    assert "s" * 24 not in caplog.text and started.fingerprint() in caplog.text
    with pytest.raises(ConfigError, match="CIO_TEST_GONE_KEY"):
        KeyRotation(KeySource.env("CIO_TEST_GONE_KEY")).refresh()  # and nothing to keep
