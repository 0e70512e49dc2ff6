"""Import Segment/Customer.io-format message exports into a Delta queue table.

An export is JSON lines, one message per line as the official client
(``customerio-cdp-analytics``) builds it — ``type``, ``userId``/``anonymousId``, ``event``,
``properties``/``traits``, ``context``, ``timestamp``, ``messageId`` — or one ``/v1/batch`` body
per line (``{"batch": [...]}``, what the client posts). Files may be gzipped (``.gz``).

The table keeps every message's original ``messageId`` and ``timestamp``. It is what the old
pipeline already delivered: :func:`customerio_sink.migrate.backfill` reads it to leave those
messages out of a backfill of the same history (the sink's own ids are derived from the source
rows, so they differ from the old client's random ones, and no receiver could tell the two
apart by ``messageId``). Importing a file twice adds nothing (rows are merged by ``messageId``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from customerio_sink.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["IMPORT_SCHEMA", "ImportResult", "import_messages", "parse_export"]

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")

IMPORT_SCHEMA = (
    "message_id STRING, type STRING, user_id STRING, anonymous_id STRING, event STRING, "
    "name STRING, group_id STRING, previous_id STRING, timestamp TIMESTAMP, "
    "original_timestamp STRING, properties STRING, traits STRING, context STRING, "
    "source_file STRING, line BIGINT, imported_at TIMESTAMP"
)
"""The Delta schema of an imported queue table (one row per message, original id and time kept)."""
_CHUNK = 50_000


@dataclass
class ImportResult:
    """What an import read and added."""

    table: str
    files: int = 0
    messages: int = 0
    added: int = 0

    def summary_line(self) -> str:
        """One line: messages read, from how many files, into which table, how many were new."""
        return (
            f"imported {self.messages} messages from {self.files} file(s) into {self.table}: "
            f"{self.added} new, {self.messages - self.added} already there"
        )


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _json(value: Any, where: str, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {name} is not a JSON object (fix the line or remove it)")
    return orjson.dumps(value).decode()


def _timestamp(value: Any, where: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where}: no timestamp (fix: export with each message's original timestamp; a "
            "message without one cannot be matched to the history it came from)"
        )
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: timestamp {value[:40]!r} is not ISO-8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _row(msg: Any, where: str, source: str, line: int, now: datetime) -> dict[str, Any]:
    if not isinstance(msg, dict):
        raise ConfigError(f"{where}: not a JSON object (one message or batch body per line)")
    kind = msg.get("type")
    if kind not in CALL_TYPES:
        raise ConfigError(f"{where}: type {kind!r} is not one of {', '.join(CALL_TYPES)}")
    if not msg.get("messageId"):
        raise ConfigError(
            f"{where}: no messageId (fix: export the messages as sent; the id is what tells "
            "them apart)"
        )
    if kind != "group" and not (msg.get("userId") or msg.get("anonymousId")):
        raise ConfigError(f"{where}: neither userId nor anonymousId")
    return {
        "message_id": str(msg["messageId"]),
        "type": kind,
        "user_id": _text(msg.get("userId")),
        "anonymous_id": _text(msg.get("anonymousId")),
        "event": _text(msg.get("event")),
        "name": _text(msg.get("name")),
        "group_id": _text(msg.get("groupId")),
        "previous_id": _text(msg.get("previousId")),
        "timestamp": _timestamp(msg.get("timestamp"), where),
        "original_timestamp": msg.get("timestamp"),
        "properties": _json(msg.get("properties"), where, "properties"),
        "traits": _json(msg.get("traits"), where, "traits"),
        "context": _json(msg.get("context"), where, "context"),
        "source_file": source,
        "line": line,
        "imported_at": now,
    }


def parse_export(path: str | Path) -> Iterator[dict[str, Any]]:
    """The rows of one export file (see :data:`IMPORT_SCHEMA`), in file order.

    Raises:
        ConfigError: a line that is not a message or a batch body, naming ``file:line``.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"import: no file {str(file)!r} (give JSON-lines export files)")
    now = datetime.now(timezone.utc)
    with _open(file) as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{file}:{number}"
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ConfigError(f"{where}: not JSON (one message per line)") from None
            items = data.get("batch") if isinstance(data, dict) and "batch" in data else [data]
            if not isinstance(items, list):
                raise ConfigError(f"{where}: 'batch' is not a list of messages")
            for msg in items:
                yield _row(msg, where, str(file), number, now)


def _files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        files += sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    if not files:
        raise ConfigError(f"import: no export files in {paths!r}")
    return files


def _ensure_table(spark: SparkSession, table: str) -> str:
    """The SQL name of the queue table (created when missing)."""
    name = f"delta.`{table}`" if "/" in table else table
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {name} ({IMPORT_SCHEMA}) USING delta "
        "TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')"
    )
    return name


def import_messages(
    spark: SparkSession, paths: str | Path | Sequence[str | Path], table: str
) -> ImportResult:
    """Import export files (a file, a directory of them, or a list) into the Delta queue
    ``table`` (a path, or a catalog name); returns what was read and added.

    Every line is checked before anything is written, so a bad file imports nothing.

    Raises:
        ConfigError: a bad line (``file:line``, what is wrong, the fix) or a missing file.
    """
    files = _files(paths)
    rows: list[dict[str, Any]] = []
    for file in files:
        rows.extend(parse_export(file))
    name = _ensure_table(spark, table)
    result = ImportResult(table=table, files=len(files), messages=len(rows))
    before = spark.table(name).count()
    for start in range(0, len(rows), _CHUNK):
        chunk = spark.createDataFrame(rows[start : start + _CHUNK], IMPORT_SCHEMA)
        chunk = chunk.dropDuplicates(["message_id"])
        view = f"cio_import_{abs(hash((table, start))) % 10**9}"
        chunk.createOrReplaceTempView(view)
        spark.sql(
            f"MERGE INTO {name} t USING {view} s ON t.message_id = s.message_id "
            "WHEN NOT MATCHED THEN INSERT *"
        )
        spark.catalog.dropTempView(view)
    after = spark.table(name).count()
    result.added = after - before
    return result
