"""Customer.io's request size limits, as named constants with their headroom explained.

The limits of one message (32 KB, ids, attributes) are message rules and live in
:mod:`customerio_sink.messages.rules`; they are re-exported here.

Sources (reference ``customerio-api.md`` §2.5, §6 and the addenda): the Pipelines API takes at
most 32 KB per call and 500 KB per ``/v1/batch`` request; the Track API documents the identity
and attribute limits that apply once the data reaches the workspace. Customer.io never says
whether "KB" means 1000 or 1024 bytes, so every limit here takes the smaller reading where
that is the safe side.
"""

from __future__ import annotations

# What one message may hold (sizes, ids, attributes) is declared in customerio_sink.messages.rules
# with
# the other message rules; the names stay importable from here.
from customerio_sink.messages.rules import (
    MAX_ATTRIBUTE_NAME_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_EVENT_DATA_BYTES,
    MAX_EVENT_NAME_BYTES,
    MAX_ID_BYTES,
    MAX_MESSAGE_BYTES,
)

__all__ = [
    "BATCH_ENVELOPE_BYTES",
    "DEFAULT_MAX_BODY_BYTES",
    "DOCUMENTED_MAX_BATCH_BYTES",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_NAME_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_EVENT_DATA_BYTES",
    "MAX_EVENT_NAME_BYTES",
    "MAX_ID_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_SENT_AT_CHARS",
    "RATE_PERIOD_S",
    "RATE_REQUESTS",
]

# The Pipelines API's request budget per workspace: 3000 requests per 3 seconds ("not strictly
# enforced"), the same in both regions. Every default budget of the sink is this one (the
# emulator keeps its own: it plays the server and imports nothing of the package).
RATE_REQUESTS = 3000
RATE_PERIOD_S = 3.0

# "Requests are limited to 500KB total". Read as 500,000 bytes (the smaller reading).
DOCUMENTED_MAX_BATCH_BYTES = 500_000

# The longest ``sentAt`` value our bodies carry: "2024-01-01T00:00:00.000000+00:00" is 32
# characters; 35 leaves room for a caller's own format without breaking the size guarantee.
MAX_SENT_AT_CHARS = 35

# b'{"batch":[' + b'],"sentAt":"' + sent_at + b'"}' — the bytes a body adds around its items.
BATCH_ENVELOPE_BYTES = len(b'{"batch":[') + len(b'],"sentAt":"') + MAX_SENT_AT_CHARS + len(b'"}')

# The largest /v1/batch body we send, envelope included: 480 KiB = 491,520 bytes. That stays
# 8,480 bytes under 500,000 (the smaller reading of "500KB") for anything a proxy or the server
# counts that we do not. The official client targets 475,000 bytes of items but checks after
# appending, so its bodies reach ~508 KB; ours never pass this number.
DEFAULT_MAX_BODY_BYTES = 480 * 1024
