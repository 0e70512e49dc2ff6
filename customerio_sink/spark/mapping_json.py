"""Raw JSON columns and text checks of the mapping, as Spark expressions.

* A raw JSON column (``traits_json``, ``properties_json``, ``context_json``) is spliced into the
  message byte for byte, so it must be exactly one JSON object — nothing before or after it but
  JSON whitespace. Spark's JSON functions stop at the end of the first value and ignore the
  rest, so ``{"x":1},"userId":"victim"`` would pass a plain parse and put a second ``userId``
  into the message. :func:`exact_object_errors` reads the column inside an array twice, once
  as ``[<raw>]`` and once as ``[<raw>,0]``: only when the whole text is one value does the
  parser reach the added ``0`` (lengths 1 and 2); text that closes the array early makes both
  reads stop at the same place (equal lengths), and anything else fails to parse.
* Text must be valid UTF-8 (:func:`utf8_errors`): the engine reads keys and events as Python
  strings and raw JSON is sent as it is; ``to_json`` would silently turn bad bytes into U+FFFD.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from customerio_sink.spark.compat import is_valid_utf8, ltrim_space

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["exact_object_errors", "placeholder", "raw_spans", "splice_tail", "utf8_errors"]

Check = tuple["Column", "Column"]


def _F() -> Any:
    from pyspark.sql import functions

    return functions


def placeholder(name: str) -> str:
    """The string ``to_json`` writes for raw JSON column ``name``; :func:`splice_tail` replaces
    it with the column's raw JSON."""
    return f"__cio_raw_json_{name}__"


def splice_tail(base_json: Column, raw: list[tuple[str, Column]]) -> Column:
    """Put raw JSON strings (kept as written) where ``to_json`` wrote their placeholders.

    The placeholders are the object's last fields, so the encoded object ends with the fixed
    bytes ``"name":"<placeholder>",…}``: those bytes are cut off the end and the raw values
    appended in their place — no search through the message, which is encoded once. A null
    column becomes ``{}``. Callers check the raw columns with :func:`exact_object_errors`.
    """
    F = _F()
    tail = ",".join(f'"{name}":"{placeholder(name)}"' for name, _ in raw) + "}"
    as_bytes = base_json.cast("binary")
    parts: list[Column] = [
        as_bytes.substr(F.lit(1), F.octet_length(base_json) - F.lit(len(tail.encode())))
    ]
    for index, (name, column) in enumerate(raw):
        parts.append(F.lit(("," if index else "") + f'"{name}":').cast("binary"))
        parts.append(F.coalesce(column.cast("string"), F.lit("{}")).cast("binary"))
    parts.append(F.lit("}").cast("binary"))
    return F.concat(*parts).cast("string")


def raw_spans(message: Column, raw: list[tuple[str, Column]]) -> list[tuple[Column, Column]]:
    """Where :func:`splice_tail` put each raw value in ``message`` (its result): (start, end)
    byte offsets, 0-based and end-exclusive, one pair per ``raw`` entry in the same order.

    Counted back from the message's end (the raw values are its last fields), so only the
    lengths are needed. With these the engine checks each raw value as it is sent (see
    :func:`customerio_sink.engine.text_guard.guard_raw_json`) instead of the JVM parsing it twice.
    """
    F = _F()
    end = F.octet_length(message) - F.lit(1)  # the closing "}"
    spans: list[tuple[Column, Column]] = []
    for index in range(len(raw) - 1, -1, -1):
        name, column = raw[index]
        start = end - F.octet_length(F.coalesce(column.cast("string"), F.lit("{}")))
        spans.append((start, end))
        end = start - F.lit(len((("," if index else "") + f'"{name}":').encode()))
    return spans[::-1]


def exact_object_errors(raw: Column, column: str, field_name: str) -> list[Check]:
    """The check that a (non-null) raw JSON column is exactly one JSON object."""
    F = _F()
    alone = F.json_array_length(F.concat(F.lit("["), raw, F.lit("]")))
    with_sentinel = F.json_array_length(F.concat(F.lit("["), raw, F.lit(",0]")))
    # Only a "]" inside the text can close the array before the sentinel: without one, the
    # parser reads the whole text, and one read decides (the second parse costs as much as the
    # first, on every row).
    one_value = F.when(raw.contains("]"), (alone == 1) & (with_sentinel == 2)).otherwise(
        with_sentinel == 2
    )
    # One complete value whose first character is "{" is an object.
    is_object = ltrim_space(raw).startswith("{")
    return [
        (
            raw.isNotNull() & ~F.coalesce(one_value & is_object, F.lit(False)),
            F.lit(
                f"{column}: malformed JSON or not a JSON object, or text before or after it "
                f"(a {field_name} column holds exactly one JSON object) [json_object]"
            ),
        )
    ]


def utf8_errors(columns: list[tuple[str, Column]]) -> list[Check]:
    """One check per (name, string column): the text must be valid UTF-8."""
    F = _F()
    return [
        (
            ~F.coalesce(is_valid_utf8(value), F.lit(True)),
            F.lit(f"{name}: not valid UTF-8 [utf8]"),
        )
        for name, value in columns
    ]
