"""PII at rest: encrypted payloads read back with their key only; keyed hashes match, and
neither ever shows a key."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError, DecryptionError
from customerio_sink.spark.protect import (
    KeyedHasher,
    PayloadCipher,
    generate_key,
    is_encrypted,
    require_plain,
)

PAYLOAD = '{"type":"identify","userId":"u1","traits":{"email":"ada@example.com","name":"Ada"}}'


@pytest.fixture(scope="module")
def key() -> SecretKey:
    return generate_key()


@pytest.fixture(scope="module")
def cipher(key: SecretKey) -> PayloadCipher:
    return PayloadCipher(key, secret_name="cio/payload-key")


def test_round_trip_with_the_key(cipher: PayloadCipher, key: SecretKey) -> None:
    token = cipher.encrypt(PAYLOAD)
    assert is_encrypted(token) and token.isascii()
    assert "ada@example.com" not in token and "Ada" not in token
    assert cipher.decrypt_text(token) == PAYLOAD
    assert cipher.decrypt(token.encode()) == PAYLOAD.encode()
    # A new cipher from the same secret (another process, the replay job) reads it too.
    assert PayloadCipher(key.reveal()).decrypt_text(token) == PAYLOAD
    assert cipher.encrypt(b"\x00\xffbytes") != cipher.encrypt(b"\x00\xffbytes")  # random IV
    assert cipher.decrypt(cipher.encrypt(b"\x00\xffbytes")) == b"\x00\xffbytes"


def test_wrong_key_fails_clearly_without_any_key(cipher: PayloadCipher, key: SecretKey) -> None:
    other = generate_key()
    token = cipher.encrypt(PAYLOAD)
    with pytest.raises(DecryptionError) as caught:
        PayloadCipher(other, secret_name="cio/payload-key").decrypt(token)
    text = str(caught.value)
    assert "the payload is encrypted" in text and "secret cio/payload-key" in text
    assert caught.value.code == "decryption" and isinstance(caught.value, ConfigError)
    for secret in (key.reveal(), other.reveal()):
        assert secret not in text and secret not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(DecryptionError):  # a tampered token is no better than a wrong key
        cipher.decrypt(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))


def test_without_the_key_an_encrypted_payload_is_refused(cipher: PayloadCipher) -> None:
    token = cipher.encrypt(PAYLOAD)
    with pytest.raises(DecryptionError, match="encrypted: replaying it needs the key cio/k"):
        require_plain(token, "cio/k")
    assert require_plain(PAYLOAD) == PAYLOAD and require_plain(None) is None
    # A cipher passes plain (pre-protection) payloads through and opens tokens.
    assert cipher.open_payload(PAYLOAD) == PAYLOAD
    assert cipher.open_payload(token) == PAYLOAD
    assert cipher.open_payload(None) is None


def test_not_a_fernet_key_is_a_config_error_that_does_not_quote_it() -> None:
    with pytest.raises(ConfigError, match="not a Fernet key") as caught:
        PayloadCipher("too-short-s3cr3t", secret_name="cio/k")
    assert "s3cr3t" not in str(caught.value) and "(secret cio/k)" in str(caught.value)


def test_key_rotation(key: SecretKey) -> None:
    old = PayloadCipher(key)
    token = old.encrypt(PAYLOAD)
    new_key = generate_key()
    both = PayloadCipher(new_key, key)
    assert both.decrypt_text(token) == PAYLOAD
    rotated = both.rotate(token)
    assert PayloadCipher(new_key).decrypt_text(rotated) == PAYLOAD
    with pytest.raises(DecryptionError):
        old.decrypt(rotated)


def test_keys_never_in_repr_str_or_pickle_text(cipher: PayloadCipher, key: SecretKey) -> None:
    hasher = KeyedHasher(SecretKey("hmac-s3cr3t-value"))
    for obj in (cipher, hasher):
        assert key.reveal() not in repr(obj) and "s3cr3t" not in repr(obj)
        assert key.reveal() not in str(obj) and "s3cr3t" not in str(obj)
    assert "fingerprint=" in repr(cipher) and "cio/payload-key" in repr(cipher)


def test_both_pickle_to_executors(cipher: PayloadCipher) -> None:
    token = cipher.encrypt(PAYLOAD)
    copy = pickle.loads(pickle.dumps(cipher))
    assert copy.decrypt_text(token) == PAYLOAD and copy.secret_name == "cio/payload-key"
    hasher = KeyedHasher("k1")
    assert pickle.loads(pickle.dumps(hasher)).hash("x") == hasher.hash("x")


def test_keyed_hash_is_stable_and_keyed() -> None:
    a, a_again, b = KeyedHasher("key-a"), KeyedHasher(SecretKey("key-a")), KeyedHasher("key-b")
    digest = a.hash("ada@example.com")
    assert digest == a_again.hash("ada@example.com") == a.hash(b"ada@example.com")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != b.hash("ada@example.com") and digest != a.hash("bob@example.com")
    assert "ada" not in digest


def test_known_hmac_vector() -> None:
    # Plain HMAC-SHA256, so any other implementation with the key can match the column.
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    assert KeyedHasher("Jefe").hash("what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_arrow_column_round_trip(cipher: PayloadCipher) -> None:
    column = pa.chunked_array([[PAYLOAD, None], ['{"a":1}', "ünïcode ✓"]], type=pa.string())
    encrypted = cipher.encrypt_array(column)
    assert encrypted.type == pa.string() and encrypted.num_chunks == 2
    assert encrypted.null_count == 1
    assert all(is_encrypted(v) for v in encrypted.to_pylist() if v is not None)
    assert cipher.decrypt_array(encrypted).to_pylist() == column.to_pylist()
    binary = cipher.decrypt_array(encrypted, binary=True)
    assert binary.type == pa.binary() and binary.to_pylist()[0] == PAYLOAD.encode()
    with pytest.raises(DecryptionError):
        PayloadCipher(generate_key()).decrypt_array(encrypted)
    from_binary = cipher.encrypt_array(pa.array([b"\x00raw", None], type=pa.binary()))
    assert cipher.decrypt_array(from_binary, binary=True).to_pylist() == [b"\x00raw", None]


def test_arrow_hash_column_matches_single_values() -> None:
    hasher = KeyedHasher("key-a")
    column = pa.array(["u1", None, "u2", "u1"])
    hashed = hasher.hash_array(column).to_pylist()
    assert hashed == [hasher.hash("u1"), None, hasher.hash("u2"), hasher.hash("u1")]


def test_map_in_arrow_functions_protect_only_the_named_columns(cipher: PayloadCipher) -> None:
    batch = pa.RecordBatch.from_pydict(
        {"message_id": ["m1", "m2"], "user_id": ["u1", None], "payload": [PAYLOAD, None]}
    )
    [encrypted] = cipher.arrow_mapper(["payload"])([batch])
    assert encrypted.schema == batch.schema  # so df.mapInArrow(..., df.schema) holds
    assert encrypted.column(0).to_pylist() == ["m1", "m2"]
    assert is_encrypted(encrypted.column(2)[0].as_py()) and encrypted.column(2)[1].as_py() is None
    [decrypted] = cipher.arrow_mapper(["payload"], decrypt=True)([encrypted])
    assert decrypted.equals(batch)
    [hashed] = KeyedHasher("k").arrow_mapper(["user_id"])([batch])
    assert hashed.column(1).to_pylist() == [KeyedHasher("k").hash("u1"), None]
    with pytest.raises(ConfigError, match="no column nope in the batch"):
        list(cipher.arrow_mapper(["nope"])([batch]))
    with pytest.raises(ConfigError, match="at least one column"):
        cipher.arrow_mapper([])


def test_cryptography_is_declared_for_a_fresh_machine() -> None:
    tree = ast.parse((Path(__file__).resolve().parents[2] / "setup.py").read_text())
    lists = {
        t.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    assert any(r.startswith("cryptography") for r in lists["PROTECT"])
    assert any(r.startswith("cryptography") for r in lists["DEV"])
