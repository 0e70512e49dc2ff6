"""The ISO-8601 times a mapping leaves to the engine, written for a whole Arrow batch at once.

A message's ``timestamp`` is UTC text to the millisecond (``2026-01-01T10:00:00.000Z``). On the
JVM that is a dozen string functions per row (about a sixth of the mapping stage). A mapping
made with ``engine_ids`` writes :data:`TIME_PLACEHOLDER` instead for every time from 1970 up
to the end of the year 9999 — the times whose milliseconds are the id's time column
(:data:`~customerio_sink.engine.ids.TIME_COLUMN`) and whose text is 24 characters — and the
text itself for any other (before 1970, after 9999, the batch's "now" for a row without one).
:func:`fill_times` writes the text over the placeholders: the field is always the one that
follows the ``messageId`` (the mapping's fixed order), so no user data is ever read as one.

Pure Python at import: numpy is imported by the functions that use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TIME_PLACEHOLDER", "TIME_RANGE_MICROS", "fill_times", "iso_millis"]

#: What a mapping writes where the engine puts a time: as long as the text, of a character no
#: time has.
TIME_PLACEHOLDER = "~" * 24
#: The times (epoch microseconds, end excluded) a mapping leaves to the engine.
TIME_RANGE_MICROS = (0, 253_402_300_800_000_000)  # 1970-01-01 … 10000-01-01, UTC
#: What follows the id's closing quote when the time field is there.
_BETWEEN = b',"timestamp":"'
_MARK = ord(TIME_PLACEHOLDER[0])
_MS_PER_DAY = 86_400_000


def _digits(out: Any, column: int, value: Any, width: int) -> None:
    """Write ``value`` (non-negative integers) as ``width`` decimal digits from ``column``."""
    for k in range(width - 1, -1, -1):
        out[:, column + k] = 48 + value % 10
        value = value // 10


def iso_millis(time_ms: Any) -> Any:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of each time (numpy int64 milliseconds, 0 up to the end of
    the year 9999) as an ``(n, 24)`` uint8 array of ASCII."""
    import numpy as np

    ms = np.asarray(time_ms, dtype=np.int64)
    if ms.size and (ms.min() < 0 or ms.max() >= TIME_RANGE_MICROS[1] // 1000):
        raise ValueError("a time outside 1970 to 9999 left to the engine")
    days, of_day = np.divmod(ms, _MS_PER_DAY)
    # Civil date of a day number (proleptic Gregorian, as Spark's dates), H. Hinnant's method.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    out = np.empty((len(ms), 24), dtype=np.uint8)
    for column, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (23, "Z")):
        out[:, column] = ord(char)
    _digits(out, 0, year, 4)
    _digits(out, 5, month, 2)
    _digits(out, 8, day, 2)
    _digits(out, 11, of_day // 3_600_000, 2)
    _digits(out, 14, of_day // 60_000 % 60, 2)
    _digits(out, 17, of_day // 1000 % 60, 2)
    _digits(out, 20, of_day % 1000, 3)
    return out


def fill_times(data: Any, after_ids: Any, row_ends: Any, time_ms: Any) -> None:
    """Write each row's time over its placeholder in ``data`` (a writable uint8 copy of the
    payloads' bytes), in place.

    ``after_ids`` is where each row's id ends (its closing quote), ``row_ends`` where the row's
    message ends, ``time_ms`` the row's id time; all numpy arrays of the rows with a message. A
    row whose id is followed by the time field holding the placeholder gets its text; a row with
    the time written out, or without a time, is left as it is.
    """
    import numpy as np

    field = np.frombuffer(_BETWEEN, dtype=np.uint8)
    width = len(TIME_PLACEHOLDER)
    starts = after_ids + 1 + len(field)  # where the placeholder would be
    fits = starts + width < row_ends
    rows = np.flatnonzero(fits)
    if not len(rows):
        return
    at = starts[rows]
    head = data[(at - len(field))[:, None] + np.arange(len(field))]
    text = data[at[:, None] + np.arange(width + 1)]
    closed = text[:, width] == 34  # the quote that ends the field
    placeholder = (head == field).all(axis=1) & (text[:, :width] == _MARK).all(axis=1) & closed
    rows, at = rows[placeholder], at[placeholder]
    if not len(rows):
        return
    written = iso_millis(np.asarray(time_ms)[rows])
    for k in range(width):
        data[at + k] = written[:, k]
