"""The engine's check of raw JSON columns: each spliced value is exactly one JSON object.

The mapping splices a raw JSON column into the message as written and tells the engine where
(``raw_json`` spans); the engine parses each value strictly once. These tests build the input
batches the way the mapping does and check the verdicts and reasons, row by row.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from customerio_sink.engine.partition import ERROR, INPUT_COLUMNS, PAYLOAD, _as_arrow

COLUMNS = (("properties", "props"), ("context", "ctx"))


def _message(properties: bytes, context: bytes | None = None) -> tuple[bytes, list[int]]:
    """A track message with the raw values spliced last, as the mapping writes it."""
    head = b'{"type":"track","event":"e","userId":"u"'
    spans: list[int] = []
    out = head
    for name, value in (("context", context), ("properties", properties)):
        if value is None:
            continue
        out += b',"' + name.encode() + b'":'
        spans += [len(out), len(out) + len(value)]
        out += value
    return out + b"}", spans


def _batch(rows: list[tuple[bytes, list[int] | None, str | None]]) -> pa.RecordBatch:
    columns: dict[str, list[object]] = {c: [] for c in INPUT_COLUMNS}
    for index, (payload, _, error) in enumerate(rows):
        for name in INPUT_COLUMNS:
            columns[name].append(None)
        columns["key"][-1] = f"k{index}"
        columns["message_id"][-1] = f"m{index}"
        columns["type"][-1] = "track"
        columns["payload"][-1] = payload
        columns["error"][-1] = error
        columns["hold"][-1] = False
        columns["in_window"][-1] = False
    arrays = [
        pa.array(columns[c], type=t)
        for c, t in zip(
            INPUT_COLUMNS,
            [pa.string()] * 4
            + [pa.binary(), pa.string(), pa.string(), pa.int64()]
            + [pa.string(), pa.bool_(), pa.bool_()],
            strict=True,
        )
    ]
    names = list(INPUT_COLUMNS)
    arrays.append(pa.array([s for _, s, _ in rows], type=pa.list_(pa.int32())))
    names.append("raw_json")
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _errors(rows: list[tuple[bytes, list[int] | None, str | None]]) -> list[str | None]:
    out = _as_arrow(_batch(rows), COLUMNS)
    return out.column(ERROR).to_pylist()


GOOD = [b'{"a":1}', b' {"a":[1,{"b":"]"}]} ', b"{}", b'{"s":"\\u00e9 \xc3\xa9"}']
BAD = [
    b'{"x":1},"userId":"victim"',  # the injection of the review
    b'{"x":1}]',  # closes an array early
    b'{"x":1},0],[{"y":2}',  # early close, then more
    b'{"a":1} x',  # trailing text
    b'{"a":1}{"b":2}',  # two objects
    b"{'a':1}",  # single quotes
    b'{"a":NaN}',
    b'{"a":"\x01"}',  # a raw control character
    b'{"a":1,}',
    b"[1]",  # not an object
    b'"text"',
    b"",
    b"{",
]


@pytest.mark.parametrize("value", GOOD)
def test_one_object_passes(value: bytes) -> None:
    payload, spans = _message(value)
    assert _errors([(payload, spans, None)]) == [None]


@pytest.mark.parametrize("value", BAD)
def test_anything_but_exactly_one_object_is_an_error_naming_the_column(value: bytes) -> None:
    payload, spans = _message(value)
    good, good_spans = _message(b'{"ok":true}')
    errors = _errors([(good, good_spans, None), (payload, spans, None), (good, good_spans, None)])
    assert errors[0] is None and errors[2] is None
    assert errors[1] == (
        "props: malformed JSON or not a JSON object, or text before or after it "
        "(a properties column holds exactly one JSON object) [json_object]"
    )


def test_invalid_utf8_is_named_as_such() -> None:
    payload, spans = _message(b'{"a":"\xc3("}')
    (error,) = _errors([(payload, spans, None)])
    assert error == "props: not valid UTF-8 [utf8]"


def test_each_of_two_raw_values_is_checked_and_named() -> None:
    ok = b'{"ip":"1.2.3.4"}'
    rows = [
        (*_message(b'{"a":1}', ok), None),
        (*_message(b'{"a":1}', b'{"ip":1},"userId":"v"'), None),
        (*_message(b"{'a':1}", ok), None),
    ]
    errors = _errors(rows)  # type: ignore[arg-type]
    assert errors[0] is None
    assert (
        errors[1] is not None
        and errors[1].startswith("ctx: ")
        and "a context column holds" in errors[1]
    )
    assert errors[2] is not None and errors[2].startswith("props: ")


def test_an_earlier_error_is_kept_and_rows_without_spans_are_not_read() -> None:
    bad, spans = _message(b"{'a':1}")
    rows = [(bad, spans, "userId: missing"), (b"not json at all", None, None)]
    assert _errors(rows) == ["userId: missing", None]


def test_a_sliced_batch_reads_its_own_rows() -> None:
    good, good_spans = _message(b'{"a":1}')
    bad, bad_spans = _message(b'{"a":1} x')
    batch = _batch([(good, good_spans, None), (bad, bad_spans, None), (good, good_spans, None)])
    out = _as_arrow(batch.slice(1, 2), COLUMNS)
    errors = out.column(ERROR).to_pylist()
    assert errors[0] is not None and errors[0].startswith("props: ")
    assert errors[1] is None
    assert out.column(PAYLOAD).to_pylist() == [bad, good]


def test_column_mappings_are_checked_too() -> None:
    """The Data Source door hands the engine lists per column, ``raw_json`` among them."""
    payload, spans = _message(b'{"x":1},"userId":"victim"')
    batch = _batch([(payload, spans, None)])
    as_lists = {name: batch.column(name).to_pylist() for name in batch.schema.names}
    (error,) = _as_arrow(as_lists, COLUMNS).column(ERROR).to_pylist()
    assert error is not None and error.startswith("props: ")
