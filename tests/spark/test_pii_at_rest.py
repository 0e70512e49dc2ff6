"""Dead-letter and retry-queue payloads stored encrypted (``payload_key``): replay decrypts them
and sends the message as it was; without the key they are unreadable and replay refuses."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.errors import DecryptionError
from customerio_sink.spark.keys import payload_cipher
from customerio_sink.spark.protect import PayloadCipher, generate_key, is_encrypted
from customerio_sink.spark.replay import drain_retry_queue, replay_dead_letters
from customerio_sink.spark.runner import read_source, run_sync

from .conftest import EVENTS, sink_options

pytestmark = pytest.mark.spark


def test_encrypted_letters_replay_with_the_key_and_not_without(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fernet_key = generate_key()
    monkeypatch.setenv("CIO_TEST_PAYLOAD_KEY", fernet_key.reveal())
    cipher = payload_cipher("env:CIO_TEST_PAYLOAD_KEY")
    assert isinstance(cipher, PayloadCipher)
    path = str(tmp_path / "events")
    old = (datetime.now(timezone.utc) - timedelta(days=9)).isoformat()
    recent = datetime.now(timezone.utc).isoformat()
    spark.createDataFrame(
        [
            ("e1", "u1", "Order Completed", '{"sku": "a"}', old),
            ("e2", "u2", None, '{"email": "u2@example.com"}', old),  # dead: no event name
            ("e3", "u3", "Signed Up", '{"email": "u3@example.com"}', recent),  # held: parked
        ],
        "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING",
    ).write.format("delta").save(path)
    opts = sink_options(tmp_path, emulator, EVENTS, "pii", hold_recent=True)
    opts = opts.with_(ledger=dataclasses.replace(opts.ledger, cipher=cipher))
    run_sync(spark, opts, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp"))
    assert len(emulator.message_id_counts()) == 1

    dead = opts.ledger.read(spark, "dead_letters").collect()
    parked = opts.ledger.read(spark, "retry_queue").collect()
    assert len(dead) == 1 and len(parked) == 1
    for row in dead + parked:
        assert is_encrypted(row.payload)
        assert "example.com" not in row.payload  # "." is not in base64url: never by chance
    assert json.loads(cipher.decrypt_text(dead[0].payload))["userId"] == "u2"
    assert json.loads(cipher.decrypt_text(parked[0].payload))["userId"] == "u3"

    # Without the key: one clear line, nothing sent.
    plain = opts.with_(ledger=dataclasses.replace(opts.ledger, cipher=None))
    with pytest.raises(DecryptionError) as refused:
        replay_dead_letters(spark, plain, where="error_message LIKE 'event:%'")
    assert "\n" not in str(refused.value) and "encrypted" in str(refused.value)
    other = opts.with_(
        ledger=dataclasses.replace(opts.ledger, cipher=PayloadCipher(generate_key()))
    )
    with pytest.raises(DecryptionError):  # the wrong key cannot read it either
        replay_dead_letters(spark, other, where="error_message LIKE 'event:%'")
    assert len(emulator.message_id_counts()) == 1

    def fix(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "event": "Order Completed"}

    report = replay_dead_letters(spark, opts, where="error_message LIKE 'event:%'", fix=fix)
    assert report["acked"] == 1
    sent = [m for m in emulator.messages() if m.get("userId") == "u2"]
    assert len(sent) == 1
    assert sent[0]["event"] == "Order Completed"
    assert sent[0]["properties"] == {"email": "u2@example.com"}

    drained = drain_retry_queue(spark, opts, include_held=True)
    assert drained["acked"] == 1
    sent3 = [m for m in emulator.messages() if m.get("userId") == "u3"]
    assert [(m["event"], m["properties"]) for m in sent3] == [
        ("Signed Up", {"email": "u3@example.com"})
    ]
    # What replay wrote back stays encrypted.
    for row in opts.ledger.read(spark, "dead_letters").collect():
        assert is_encrypted(row.payload)


def test_the_data_source_door_stores_encrypted_payloads_too(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from customerio_sink.spark.datasource import prepare, register
    from customerio_sink.spark.listener import ingestor

    monkeypatch.setenv("CIO_TEST_PAYLOAD_KEY", generate_key().reveal())
    opts = sink_options(tmp_path, emulator, EVENTS, "pii-ds")
    opts = opts.with_(
        ledger=dataclasses.replace(opts.ledger, cipher=payload_cipher("env:CIO_TEST_PAYLOAD_KEY"))
    )
    options = opts.to_options()
    assert options["payload_key"] == "env:CIO_TEST_PAYLOAD_KEY"  # the name travels, not the key
    old = (datetime.now(timezone.utc) - timedelta(days=9)).isoformat()
    df = spark.createDataFrame(
        [
            ("e1", "u1", "Order Completed", "{}", old),
            ("e2", "u2", None, '{"email": "u2@example.com"}', old),
        ],
        "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING",
    )
    register(spark)
    writer = prepare(df, opts).write.format("customerio").options(**options)
    writer.option("run_id", "pii-ds-1").mode("append").save()
    ingestor().wait_for("pii-ds-1", 0, 180.0)  # type: ignore[union-attr]
    [dead] = opts.ledger.read(spark, "dead_letters").collect()
    assert is_encrypted(dead.payload) and "example.com" not in dead.payload
    cipher = payload_cipher("env:CIO_TEST_PAYLOAD_KEY")
    assert json.loads(cipher.decrypt_text(dead.payload))["userId"] == "u2"
