"""Event times of the mapping, as Spark expressions that never read the session time zone.

The time feeds the ``messageId``, so a crash and a re-run under another
``spark.sql.session.timeZone`` must read every row as the same instant:

* ``timestamp`` columns are instants already.
* ``timestamp_ntz`` and ``date`` columns, and strings without an offset or zone
  (``2026-01-01 10:00:00``, ``2026-01-01``), are read as UTC wall-clock times.
* strings with an offset or zone (``…Z``, ``…+02:00``, ``… UTC``) are read with it.
* numbers are epoch times: below 10^11 in absolute value, seconds (fractions kept); from 10^11
  on, milliseconds (10^11 seconds is the year 5138; 10^11 milliseconds is March 1973, so a
  millisecond time before 1973-03-03 would be read as seconds). From 10^14 on (the year 5138
  in milliseconds) a number is not a time.

Times more than :data:`FUTURE_LIMIT_HOURS` after the batch's time are rejected (a wrong unit
or time zone, not an event that has happened). Times before 1970 are sent as they are; their
``messageId`` has a zero time part (the id's time field cannot hold a negative time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from customerio_sink.engine.times import TIME_PLACEHOLDER, TIME_RANGE_MICROS
from customerio_sink.messages.rules import FUTURE_LIMIT_HOURS
from customerio_sink.spark.compat import try_cast

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = [
    "FUTURE_LIMIT_HOURS",
    "future_error",
    "iso_text",
    "message_time_text",
    "micros_text",
    "parse_time",
]

ISO_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double")
_SECONDS_BELOW = 1e11
_MILLIS_BELOW = 1e14
# A time of day followed by a zone: Z, an offset, or a zone name (``UTC``, ``Europe/Paris``).
_ZONED = r"\d:\d\d(:\d\d)?([.,]\d*)?\s*[A-Za-z+\-]"


def _F() -> Any:
    from pyspark.sql import functions

    return functions


def _utc_wall_clock(ntz: Column) -> Column:
    """A ``timestamp_ntz`` read as a UTC time, from its fields (``timestampdiff`` on
    ``timestamp_ntz`` goes through the session time zone: it moves times in a DST gap)."""
    F = _F()
    day_micros = F.unix_date(ntz.cast("date")).cast("bigint") * F.lit(86_400_000_000)
    clock = F.hour(ntz) * F.lit(3_600_000_000) + F.minute(ntz) * F.lit(60_000_000)
    seconds = (F.date_part(F.lit("SECOND"), ntz) * F.lit(1_000_000)).cast("bigint")
    return F.timestamp_micros(day_micros + clock + seconds)


def iso_text(ts: Column) -> Column:
    """An instant as ISO-8601 text in UTC (``2026-01-01T10:00:00.000Z``), from its epoch
    microseconds: ``date_format`` and ``timestampadd`` read the session time zone."""
    F = _F()
    micros = F.unix_micros(ts)
    day = F.floor(micros / F.lit(86_400_000_000))
    ms_of_day = F.floor((micros - day * F.lit(86_400_000_000)) / F.lit(1000))

    def two(value: Column) -> Column:
        return F.lpad(value.cast("string"), 2, "0")

    return F.concat(
        F.date_from_unix_date(day.cast("int")).cast("string"),
        F.lit("T"),
        two(F.floor(ms_of_day / F.lit(3_600_000))),
        F.lit(":"),
        two(F.floor(ms_of_day / F.lit(60_000)) % F.lit(60)),
        F.lit(":"),
        two(F.floor(ms_of_day / F.lit(1000)) % F.lit(60)),
        F.lit("."),
        F.lpad((ms_of_day % F.lit(1000)).cast("string"), 3, "0"),
        F.lit("Z"),
    )


def message_time_text(ts: Column, engine: bool) -> Column:
    """A message's ``timestamp`` text: :func:`iso_text`, or — for the sending engine
    (``engine``) — its placeholder for every time the engine writes
    (:mod:`customerio_sink.engine.times`: 1970 up to the end of 9999), the text for any other."""
    if not engine:
        return iso_text(ts)
    F = _F()
    micros = F.unix_micros(ts)
    low, high = TIME_RANGE_MICROS
    in_range = (micros >= F.lit(low)) & (micros < F.lit(high))
    return F.when(in_range, F.lit(TIME_PLACEHOLDER)).otherwise(iso_text(ts))


def _epoch(value: Column) -> tuple[Column, Column]:
    F = _F()
    size = F.abs(value)
    ts = F.when(size < F.lit(_SECONDS_BELOW), F.timestamp_seconds(value)).when(
        size < F.lit(_MILLIS_BELOW), F.timestamp_millis(value.cast("bigint"))
    )
    return ts, value.isNotNull() & ts.isNull()


def parse_time(raw: Column, kind: str) -> tuple[Column, Column, str]:
    """(timestamp, unparsable flag, rule text) for a source column of Spark type ``kind``."""
    F = _F()
    if kind == "timestamp":
        return raw, F.lit(False), ""
    if kind in ("timestamp_ntz", "date"):
        return _utc_wall_clock(raw.cast("timestamp_ntz")), F.lit(False), ""
    if kind in _NUMERIC or kind.startswith("decimal"):
        ts, bad = _epoch(raw)
        return ts, bad, "is not an epoch time in seconds or milliseconds"
    text = raw.cast("string")
    zoned = F.coalesce(F.try_to_timestamp(text), F.try_to_timestamp(text, F.lit(ISO_FORMAT)))
    ts = F.when(text.rlike(_ZONED), zoned).otherwise(
        _utc_wall_clock(try_cast(text, "timestamp_ntz"))
    )
    return ts, raw.isNotNull() & ts.isNull(), "is not an ISO-8601 date-time"


def micros_text(column: Column) -> Column:
    """Microseconds since the epoch as zero-padded text, for comparisons with "now".

    Compared as text, the threshold is a string literal, which Spark passes by reference, so
    the generated code is the same for every batch (a number or timestamp literal would be
    inlined, a cast to decimal unwrapped again). Negative times sort before every positive one.
    """
    F = _F()
    return F.lpad(F.unix_micros(column).cast("string"), 20, "0")


def future_error(ts: Column, column: str) -> Column:
    """The error text for a time over :data:`FUTURE_LIMIT_HOURS` ahead (NULL otherwise)."""
    F = _F()
    limit = F.current_timestamp() + F.expr(f"INTERVAL {FUTURE_LIMIT_HOURS} HOURS")
    return F.when(
        micros_text(ts) > micros_text(limit),
        F.concat(
            F.lit(f"{column}: '"),
            iso_text(ts),
            F.lit(
                f"' is more than {FUTURE_LIMIT_HOURS} hours in the future (check the column's "
                "unit and time zone) [timestamp_future]"
            ),
        ),
    )
