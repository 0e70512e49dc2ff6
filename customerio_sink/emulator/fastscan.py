"""Fast mode's cheap look at a body: messageIds without parsing, and the 32 KB rule too.

What fast mode checks (everything else is skipped — no JSON-schema validation, no recording of
message bodies, no people/objects state):

* message ids: every ``"messageId": "<id>"`` in the body — read after each key of the split
  below when every id is a plain string, else by one compiled regex; messages are
  counted by their ids, so a call without a ``messageId`` is not counted unless the body is
  parsed for the size check below (then every call counts);
* the per-message limit: a message spans at most from the previous message's id to the next
  one's, so when every such two-gap span is within the limit no message can be over it and the
  body is not parsed. Otherwise (a big message, or calls without ids) the body is parsed with
  orjson and each call measured exactly;
* whether the body is JSON at all is only noticed when it is parsed.

A ``"messageId"`` key nested inside a call's properties would be counted as a message: the
price of not parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

import orjson

__all__ = ["FastScan", "find_ids", "scan_body"]

_KEY = b'"messageId"'
# The value's characters as an unrolled loop (runs of plain characters, then one escape): one
# findall over the body, no per-match Python work.
_MESSAGE_ID = re.compile(rb'"messageId"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')


@dataclass(frozen=True)
class FastScan:
    """The ids found, in order; ``needs_parse`` when only a full read can apply the 32 KB rule."""

    ids: list[str]
    needs_parse: bool = False


def _decode_ids(raw: list[bytes]) -> list[str]:
    return [
        str(orjson.loads(b'"' + r + b'"')) if b"\\" in r else r.decode("utf-8", "replace")
        for r in raw
    ]


def find_ids(body: bytes) -> list[str]:
    """Every ``messageId`` string value in ``body``, in order."""
    return _decode_ids(_MESSAGE_ID.findall(body))


def _ids_after_keys(parts: list[bytes]) -> list[str] | None:
    """The id after each ``"messageId"`` key of a body split on the key, when every one is a
    plain string written ``:"…"`` or, in every one, ``: "…"`` (what JSON encoders write);
    otherwise ``None`` (the regex reads the body instead)."""
    first = parts[1][:3] if len(parts) > 1 else b""
    start = 2 if first[:2] == b':"' else 3 if first == b': "' else 0
    if not start:
        return None
    lead, rest = first[:start], parts[1:]
    if any(p[:start] != lead for p in rest):
        return None
    try:
        raw = [p[start : p.index(b'"', start)] for p in rest]
    except ValueError:  # no closing quote
        return None
    joined = b"\n".join(raw)
    if b"\\" in joined:  # an escape: the regex knows where the string ends
        return None
    ids = joined.decode("utf-8", "replace").split("\n")
    return ids if len(ids) == len(raw) else None  # a raw newline in an id: not plain


def scan_body(body: bytes, is_batch: bool, max_message_bytes: int) -> FastScan:
    """Scan a decoded request body without parsing it."""
    if len(body) <= max_message_bytes:
        return FastScan(find_ids(body))
    if not is_batch:
        return FastScan([], needs_parse=True)
    # One split gives both the ids (the text after each key) and the gaps between keys: a
    # message lies within two adjacent gaps.
    parts = body.split(_KEY)
    ids = _ids_after_keys(parts)
    if ids is None:
        ids = find_ids(body)
    widest = max(map(sum, pairwise(map(len, parts))), default=len(body))
    fits = widest + 2 * len(_KEY) <= max_message_bytes
    # Every key must have given an id (a key without a string value means: parse to be sure).
    return FastScan(ids, needs_parse=not (ids and fits and len(parts) == len(ids) + 1))
