"""Fast mode's cheap look at a body: messageIds by regex, and the 32 KB rule without parsing.

What fast mode checks (everything else is skipped — no JSON-schema validation, no recording of
message bodies, no people/objects state):

* message ids: every ``"messageId": "<id>"`` in the body, by one compiled regex; messages are
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

import orjson

__all__ = ["FastScan", "find_ids", "scan_body"]

_MESSAGE_ID = re.compile(rb'"messageId"\s*:\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class FastScan:
    """The ids found, in order; ``needs_parse`` when only a full read can apply the 32 KB rule."""

    ids: list[str]
    needs_parse: bool = False


def _decode_id(raw: bytes) -> str:
    if b"\\" in raw:
        return str(orjson.loads(b'"' + raw + b'"'))
    return raw.decode("utf-8", "replace")


def find_ids(body: bytes) -> list[str]:
    """Every ``messageId`` string value in ``body``, in order."""
    return [_decode_id(m.group(1)) for m in _MESSAGE_ID.finditer(body)]


def scan_body(body: bytes, is_batch: bool, max_message_bytes: int) -> FastScan:
    """Scan a decoded request body without parsing it."""
    if len(body) <= max_message_bytes:
        return FastScan(find_ids(body))
    if not is_batch:
        return FastScan([], needs_parse=True)
    positions: list[int] = []
    ids: list[str] = []
    for match in _MESSAGE_ID.finditer(body):
        positions.append(match.start())
        ids.append(_decode_id(match.group(1)))
    bounds = [0, *positions, len(body)]
    fits = all(b - a <= max_message_bytes for a, b in zip(bounds, bounds[2:], strict=False))
    return FastScan(ids, needs_parse=not (ids and fits))
