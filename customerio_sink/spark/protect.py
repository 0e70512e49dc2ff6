"""PII at rest: field encryption for payloads that must stay replayable, keyed hashes for
columns that only need matching.

Dead letters and the retry queue keep whole message payloads (names, emails, traits) so that a
fix can be replayed. Two protections, both optional and both keyed by a secret:

- :class:`PayloadCipher` encrypts a payload (``str`` or ``bytes``) with Fernet (AES-128-CBC plus
  HMAC-SHA256, from ``cryptography``): whoever holds the key decrypts it byte for byte and can
  replay it; without the key it is noise. Tokens are ASCII strings (they start ``gAAAAA``), so
  an encrypted column stays a STRING column. Extra keys decrypt only: rotate by putting the new
  key first and the old one after it, then :meth:`PayloadCipher.rotate` old tokens.
- :class:`KeyedHasher` replaces a value by its HMAC-SHA256 (hex): the same value under the same
  key always gives the same digest, so columns that are only joined or compared (a user id in
  ``acks``, an email used to look someone up) keep working; without the key nobody can test a
  guess against them.

Both work on one value, on a whole Arrow column (``pyarrow.Array`` / ``ChunkedArray``, nulls
kept) and on string columns of a Spark DataFrame (:meth:`PayloadCipher.encrypt_columns`,
``decrypt_columns``, :meth:`KeyedHasher.hash_columns`: ``mapInArrow`` with the functions that
``arrow_mapper`` returns, so the schema stays as it is). Both pickle by their keys (Spark ships
them to executors); ``repr`` and every error text hide the keys. This module imports neither
pyspark nor (until used) pyarrow or ``cryptography`` (``pip install customerio-sink[protect]``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError, DecryptionError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["KeyedHasher", "PayloadCipher", "generate_key", "is_encrypted", "require_plain"]

# Every Fernet token is base64url of a version byte 0x80 and a 64-bit timestamp: "gAAAAA…".
_TOKEN_PREFIX = "gAAAAA"
_INSTALL_HINT = (
    "field encryption needs the 'cryptography' package: pip install customerio-sink[protect]"
)

BatchMapper = Callable[[Iterable[Any]], Iterator[Any]]


def _fernet_module() -> Any:
    try:
        import cryptography.fernet as fernet
    except ImportError:  # pragma: no cover - the dev and protect extras install it
        raise ConfigError(_INSTALL_HINT) from None
    return fernet


def generate_key() -> SecretKey:
    """A new random Fernet key, held as a :class:`SecretKey` (store it in a secret scope)."""
    return SecretKey(_fernet_module().Fernet.generate_key().decode("ascii"))


def is_encrypted(value: str | bytes | None) -> bool:
    """Whether ``value`` looks like a Fernet token (a cheap prefix test, not a proof)."""
    if value is None:
        return False
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return text.startswith(_TOKEN_PREFIX)


def _as_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ConfigError(f"can only protect str or bytes, not {type(value).__name__}")


def _map_array(array: Any, fn: Callable[[Any], Any], out_type: Any) -> Any:
    """``fn`` over every non-null value of an Arrow array (chunks kept), nulls stay null."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        chunks = [_map_array(chunk, fn, out_type) for chunk in array.chunks]
        return pa.chunked_array(chunks, type=out_type)
    return pa.array([None if v is None else fn(v) for v in array.to_pylist()], type=out_type)


def _map_frame(df: Any, columns: Sequence[str], mapper: BatchMapper, name: str) -> Any:
    """``df.mapInArrow(mapper, df.schema)`` after checking ``columns`` are string columns."""
    types = {field.name: field.dataType.typeName() for field in df.schema.fields}
    wrong = [c for c in columns if types.get(c) != "string"]
    if wrong:
        shown = ", ".join(f"{c} ({types.get(c, 'missing')})" for c in wrong)
        raise ConfigError(f"{name}: only string columns can be protected in place: {shown}")
    return df.mapInArrow(mapper, df.schema)


def _batch_mapper(columns: Sequence[str], convert: Callable[[Any], Any], name: str) -> BatchMapper:
    wanted = tuple(columns)
    if not wanted:
        raise ConfigError(f"{name}: name at least one column")

    def mapper(batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for batch in batches:
            missing = [c for c in wanted if c not in batch.schema.names]
            if missing:
                raise ConfigError(
                    f"{name}: no column {', '.join(missing)} in the batch "
                    f"(columns: {', '.join(batch.schema.names)})"
                )
            arrays = [
                convert(batch.column(i)) if field.name in wanted else batch.column(i)
                for i, field in enumerate(batch.schema)
            ]
            yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)

    return mapper


class PayloadCipher:
    """Fernet encryption of payload fields with keys from secrets.

    ``key`` encrypts and decrypts; ``old_keys`` only decrypt (key rotation). Each key is a
    Fernet key (32 url-safe base64-encoded bytes, see :func:`generate_key`) as a ``str`` or
    :class:`SecretKey`. ``secret_name`` says where the key lives (``"scope/key"``, an
    environment variable's name): errors name it so a person knows which secret to fetch.

    Raises :class:`ConfigError` for a value that is not a Fernet key (without quoting it).
    """

    __slots__ = ("_fernet", "_keys", "secret_name")

    def __init__(
        self, key: str | SecretKey, *old_keys: str | SecretKey, secret_name: str = ""
    ) -> None:
        fernet = _fernet_module()
        self._keys = tuple(SecretKey(k) for k in (key, *old_keys))
        self.secret_name = secret_name
        try:
            parts = [fernet.Fernet(k.reveal().encode("ascii")) for k in self._keys]
        except (ValueError, TypeError):
            raise ConfigError(
                "the payload encryption key is not a Fernet key (32 url-safe base64-encoded "
                f"bytes){self._where()}"
            ) from None
        self._fernet = fernet.MultiFernet(parts)

    def _where(self) -> str:
        return f" (secret {self.secret_name})" if self.secret_name else ""

    def __repr__(self) -> str:
        return (
            f"PayloadCipher(keys={len(self._keys)}, secret_name={self.secret_name!r}, "
            f"fingerprint={self._keys[0].fingerprint()})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_cipher, (self._keys, self.secret_name))

    # -- one value ---------------------------------------------------------------------------

    def encrypt(self, value: str | bytes) -> str:
        """The Fernet token (ASCII ``str``) of ``value`` (a ``str`` is encoded as UTF-8)."""
        token: bytes = self._fernet.encrypt(_as_bytes(value))
        return token.decode("ascii")

    def decrypt(self, token: str | bytes) -> bytes:
        """The bytes ``token`` was made from.

        Raises :class:`DecryptionError` if none of the keys made it (or it is no token): the
        message says the payload is encrypted and which secret it needs, never a key.
        """
        try:
            plain: bytes = self._fernet.decrypt(_as_bytes(token))
        except _fernet_module().InvalidToken:
            raise DecryptionError(
                "the payload is encrypted and this key cannot decrypt it: "
                f"it needs the key it was encrypted with{self._where()}"
            ) from None
        return plain

    def decrypt_text(self, token: str | bytes) -> str:
        """:meth:`decrypt` as a UTF-8 string (payloads are JSON text)."""
        return self.decrypt(token).decode("utf-8")

    def rotate(self, token: str | bytes) -> str:
        """``token`` re-encrypted under the first key (it may have been made by an old one)."""
        self.decrypt(token)  # the clear error for a token none of the keys made
        rotated: bytes = self._fernet.rotate(_as_bytes(token))
        return rotated.decode("ascii")

    # -- Arrow columns -----------------------------------------------------------------------

    def encrypt_array(self, array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """Encrypt every value of a string or binary Arrow column; the result is ``string``."""
        import pyarrow as pa

        return _map_array(array, self.encrypt, pa.string())

    def decrypt_array(
        self, array: pa.Array | pa.ChunkedArray, *, binary: bool = False
    ) -> pa.Array | pa.ChunkedArray:
        """Decrypt every token of an Arrow column: ``string`` values, or ``binary`` if asked."""
        import pyarrow as pa

        if binary:
            return _map_array(array, self.decrypt, pa.binary())
        return _map_array(array, self.decrypt_text, pa.string())

    def arrow_mapper(self, columns: Sequence[str], *, decrypt: bool = False) -> BatchMapper:
        """A ``mapInArrow`` function that encrypts (or decrypts) ``columns`` of every batch.

        The named columns must be strings and stay strings, so the DataFrame's own schema is the
        output schema: ``df.mapInArrow(cipher.arrow_mapper(["payload"]), df.schema)``.
        """
        convert = self.decrypt_array if decrypt else self.encrypt_array
        return _batch_mapper(columns, convert, "decrypt" if decrypt else "encrypt")

    def encrypt_columns(self, df: Any, columns: Sequence[str]) -> Any:
        """A Spark DataFrame with string ``columns`` encrypted (lazy; same schema)."""
        return _map_frame(df, columns, self.arrow_mapper(columns), "encrypt")

    def decrypt_columns(self, df: Any, columns: Sequence[str]) -> Any:
        """A Spark DataFrame with the tokens in string ``columns`` decrypted (lazy)."""
        return _map_frame(df, columns, self.arrow_mapper(columns, decrypt=True), "decrypt")

    def open_payload(self, value: str | None) -> str | None:
        """A stored payload as sent: decrypted if it is a token, unchanged if it is plain."""
        if value is None or not is_encrypted(value):
            return value
        return self.decrypt_text(value)


def _rebuild_cipher(keys: tuple[SecretKey, ...], secret_name: str) -> PayloadCipher:
    return PayloadCipher(*keys, secret_name=secret_name)


def require_plain(value: str | None, secret_name: str = "") -> str | None:
    """``value`` if it is not encrypted; :class:`DecryptionError` if it is (no key to read it).

    For replay without a :class:`PayloadCipher`: an encrypted dead letter must not be sent as
    its token.
    """
    if is_encrypted(value):
        where = f" {secret_name}" if secret_name else " it was encrypted with"
        raise DecryptionError(f"the payload is encrypted: replaying it needs the key{where}")
    return value


class KeyedHasher:
    """HMAC-SHA256 of values under a secret key, as 64 lowercase hex characters.

    Stable (same key and value, same digest, on every machine and run) and keyed (another key
    gives unrelated digests; without the key a guess cannot be checked). One-way: use it only for
    columns that are matched, never for what must be sent again.
    """

    __slots__ = ("_key",)

    def __init__(self, key: str | SecretKey) -> None:
        self._key = SecretKey(key)

    def __repr__(self) -> str:
        return f"KeyedHasher(fingerprint={self._key.fingerprint()})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (KeyedHasher, (self._key,))

    def hash(self, value: str | bytes) -> str:
        """The hex HMAC-SHA256 of ``value`` (a ``str`` is encoded as UTF-8)."""
        key = self._key.reveal().encode("utf-8")
        return hmac.new(key, _as_bytes(value), hashlib.sha256).hexdigest()

    def hash_array(self, array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """:meth:`hash` over a string or binary Arrow column (nulls stay null): ``string``."""
        import pyarrow as pa

        key = self._key.reveal().encode("utf-8")
        base = hmac.new(key, digestmod=hashlib.sha256)

        def digest(value: str | bytes) -> str:
            mac = base.copy()  # the keyed inner state, computed once per column
            mac.update(_as_bytes(value))
            return mac.hexdigest()

        return _map_array(array, digest, pa.string())

    def arrow_mapper(self, columns: Sequence[str]) -> BatchMapper:
        """A ``mapInArrow`` function that hashes ``columns`` (strings in, strings out)."""
        return _batch_mapper(columns, self.hash_array, "hash")

    def hash_columns(self, df: Any, columns: Sequence[str]) -> Any:
        """A Spark DataFrame with string ``columns`` replaced by their keyed hashes (lazy)."""
        return _map_frame(df, columns, self.arrow_mapper(columns), "hash")
