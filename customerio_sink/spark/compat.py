"""Spark SQL functions the sink uses that not every supported Spark version has.

Spark 4.0 added ``is_valid_utf8`` and ``make_valid_utf8``. On Spark 3.5 the same verdicts come
from a round trip through Java's UTF-8 decoder: ``encode(text, 'UTF-8')`` turns the string's
bytes into a Java string first, so every malformed sequence becomes U+FFFD — the bytes then
equal the original exactly when the original was valid UTF-8. (The two may put a different
number of U+FFFD into a repaired string; a row with invalid bytes is a dead letter either way.)
``tests/spark/test_compat.py`` holds the fallbacks to the native functions' verdicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["is_valid_utf8", "ltrim_space", "make_valid_utf8", "try_cast"]


def _native(name: str) -> bool:
    from pyspark.sql import functions as F

    return hasattr(F, name)


def is_valid_utf8(text: Column, *, native: bool | None = None) -> Column:
    """True when the string's bytes are valid UTF-8 (NULL for NULL)."""
    from pyspark.sql import functions as F

    if native if native is not None else _native("is_valid_utf8"):
        return F.is_valid_utf8(text)
    return F.encode(text, "UTF-8") == text.cast("binary")


def make_valid_utf8(text: Column, *, native: bool | None = None) -> Column:
    """The string with each invalid UTF-8 sequence replaced by U+FFFD (NULL for NULL)."""
    from pyspark.sql import functions as F

    if native if native is not None else _native("make_valid_utf8"):
        return F.make_valid_utf8(text)
    return F.decode(F.encode(text, "UTF-8"), "UTF-8")


def try_cast(value: Column, to: str) -> Column:
    """``value`` cast to ``to``, NULL where it does not convert (``Column.try_cast``, Spark 4).
    Spark 3.5 has no ``try_cast`` on columns; its plain cast gives NULL the same way unless
    ANSI mode is on (off by default there, and on Databricks runtimes of that line)."""
    if hasattr(type(value), "try_cast"):  # (a Column answers any attribute with a field)
        return value.try_cast(to)
    return value.cast(to)


def ltrim_space(text: Column) -> Column:
    """``text`` without leading JSON white space (space, tab, CR, LF). Spark 4's ``ltrim``
    takes the characters to trim; Spark 3.5's trims spaces only, so there a pattern does it."""
    import inspect

    from pyspark.sql import functions as F

    if len(inspect.signature(F.ltrim).parameters) > 1:
        return F.ltrim(text, F.lit(" \t\r\n"))
    return F.regexp_replace(text, r"^[ \t\r\n]+", "")
