"""Customer.io's size and count limits, as named constants with their headroom explained.

Sources (reference ``customerio-api.md`` §2.5, §6 and the addenda): the Pipelines API takes at
most 32 KB per call and 500 KB per ``/v1/batch`` request; the Track API documents the identity
and attribute limits that apply once the data reaches the workspace. Customer.io never says
whether "KB" means 1000 or 1024 bytes, so every limit here takes the smaller reading where
that is the safe side.
"""

from __future__ import annotations

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
]

# One call (a single-endpoint body, or one item of a batch), JSON-encoded. The official client
# uses 32 << 10 and accepts exactly 32768 bytes; we do the same.
MAX_MESSAGE_BYTES = 32 * 1024

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

# Identity and attribute limits (Track API spec; likely the same for data that arrives through
# Pipelines, since both feed one workspace). Ids, attribute names and event names are bytes of
# UTF-8, not characters.
MAX_ID_BYTES = 150
MAX_EVENT_NAME_BYTES = 100
MAX_ATTRIBUTES = 300
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000
# "event data 100000 bytes": the JSON-encoded ``properties`` of one event.
MAX_EVENT_DATA_BYTES = 100_000
