"""SecretKey never shows itself."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError

RAW = "s3cr3t-key-value"


def test_hidden_in_repr_str_format_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    key = SecretKey(RAW)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").debug("key is %s %r", key, key)
    shown = [repr(key), str(key), f"{key}", f"{key!r}", caplog.text, repr([key])]
    assert all(RAW not in text for text in shown)
    assert key.reveal() == RAW


def test_strips_whitespace_and_newlines() -> None:
    assert SecretKey(f"  {RAW}\n").reveal() == RAW
    assert SecretKey(SecretKey(RAW)).reveal() == RAW


@pytest.mark.parametrize("bad", ["", "   \n", "abc\ndef", "abc\x00", "clé"])
def test_unusable_keys_are_refused_without_echo(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        SecretKey(bad)
    if bad.strip():
        assert bad.strip() not in str(info.value)


def test_not_a_string() -> None:
    with pytest.raises(ConfigError):
        SecretKey(123)  # type: ignore[arg-type]


def test_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CIO_TEST_KEY", RAW + "\n")
    assert SecretKey.from_env("CIO_TEST_KEY").reveal() == RAW
    monkeypatch.delenv("CIO_TEST_KEY")
    with pytest.raises(ConfigError, match="CIO_TEST_KEY"):
        SecretKey.from_env("CIO_TEST_KEY")
    path = tmp_path / "key"
    path.write_text(RAW + "\n")
    assert SecretKey.from_file(path).reveal() == RAW
    with pytest.raises(ConfigError):
        SecretKey.from_file(tmp_path / "missing")


def test_equality_hash_pickle_fingerprint() -> None:
    a, b = SecretKey(RAW), SecretKey(RAW + " ")
    assert a == b and hash(a) == hash(b) and a != SecretKey("other")
    assert pickle.loads(pickle.dumps(a)) == a
    assert len(a.fingerprint()) == 8 and RAW not in a.fingerprint()
