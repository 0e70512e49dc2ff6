"""Protected columns through real Spark: mapInArrow ships the cipher to the Python workers by
its key and the schema stays as it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from customerio_sink.errors import ConfigError
from customerio_sink.spark.protect import KeyedHasher, PayloadCipher, generate_key, is_encrypted

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def test_encrypt_decrypt_and_hash_columns(spark: SparkSession) -> None:
    rows = [("m1", "u1", '{"traits":{"email":"ada@example.com"}}', 1), ("m2", None, None, 2)]
    df = spark.createDataFrame(rows, "message_id string, user_id string, payload string, n int")
    cipher = PayloadCipher(generate_key(), secret_name="cio/payload-key")
    protected = cipher.encrypt_columns(df, ["payload"])
    assert protected.schema == df.schema
    stored = {r.message_id: r.payload for r in protected.collect()}
    assert is_encrypted(stored["m1"]) and "ada@" not in stored["m1"] and stored["m2"] is None
    back = cipher.decrypt_columns(protected, ["payload"]).orderBy("n").collect()
    assert [tuple(r) for r in back] == rows
    hasher = KeyedHasher("match-key")
    hashed = hasher.hash_columns(df, ["user_id"]).orderBy("n").collect()
    assert [r.user_id for r in hashed] == [hasher.hash("u1"), None]
    with pytest.raises(ConfigError, match=r"only string columns .*n \(integer\)"):
        cipher.encrypt_columns(df, ["n"])
