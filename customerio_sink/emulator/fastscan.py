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


def scan_body(body: bytes, is_batch: bool, max_message_bytes: int) -> FastScan:
    """Scan a decoded request body without parsing it."""
    if len(body) <= max_message_bytes:
        return FastScan(find_ids(body))
    if not is_batch:
        return FastScan([], needs_parse=True)
    ids = find_ids(body)
    # The gaps between consecutive "messageId" keys: a message lies within two adjacent gaps.
    gaps = [len(part) + len(_KEY) for part in body.split(_KEY)]
    fits = all(a + b <= max_message_bytes for a, b in pairwise(gaps))
    # Every key must have given an id (a key without a string value means: parse to be sure).
    return FastScan(ids, needs_parse=not (ids and fits and len(gaps) == len(ids) + 1))
