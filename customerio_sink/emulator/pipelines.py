"""The Data Pipelines endpoints: ``POST /v1/identify|track|page|screen|group|alias|batch``.

Order of checks for one request (each answer ends the request):

1. auth (401) → 2. 429 storm fault → 3. per-key rate budget (429 + ``Retry-After``) →
4. injected error fault → 5. body decoding (gzip; 400 when unreadable) → 6. the 500 KB request
limit → 7. JSON shaped as calls (400 in either mode when malformed or not an object / without a
``batch`` array: there is nothing to accept) → 8. each call: 32 KB limit, fault-rejected
ids, validation → 9. answer: in strict mode (``X-Strict-Mode: 1``) any invalid call rejects the
whole request with 400; in permissive mode valid calls are accepted and the answer is
``200 {}`` → 10. the drop-after-accept fault may close the connection instead of answering.

Every error body is ``{"code": ..., "message": ..., "meta": {"errors": [reason, ...]}}``:
``meta.errors`` is the shape in the OpenAPI file's shared 400 response; ``code``/``message`` are
what the official Python client reads from an error body.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from customerio_sink.emulator.auth import authenticate_pipelines
from customerio_sink.emulator.fastscan import find_ids, scan_body
from customerio_sink.emulator.faults import Faults
from customerio_sink.emulator.ratelimit import SlidingWindowBudget, retry_after_seconds
from customerio_sink.emulator.rules import CALL_TYPES
from customerio_sink.emulator.state import Recorder, Rejection
from customerio_sink.emulator.validation import MessageValidator

__all__ = ["PIPELINES_CALLS", "PipelinesConfig", "PipelinesService", "Reply", "error_reply"]

PIPELINES_CALLS = frozenset((*CALL_TYPES, "batch"))
_MAX_REASONS_PER_RESPONSE = 50
_TYPE_RULE = "'type' must be one of " + ", ".join(CALL_TYPES)


@dataclass
class Reply:
    """An answer to write; ``drop`` closes the connection instead, after ``delay_s``."""

    status: int
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay_s: float = 0.0


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    """A :class:`Reply` with ``payload`` encoded as its JSON body."""
    return Reply(status, orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS), headers or {})


def error_reply(
    status: int, code: str, reasons: list[str], headers: dict[str, str] | None = None
) -> Reply:
    """The error body every emulator endpoint uses (see the module docstring)."""
    shown = reasons[:_MAX_REASONS_PER_RESPONSE]
    if len(reasons) > len(shown):
        shown.append(f"... and {len(reasons) - len(shown)} more")
    message = reasons[0] + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else "")
    payload = {"code": code, "message": message, "meta": {"errors": shown}}
    return json_reply(status, payload, headers)


@dataclass(frozen=True)
class PipelinesConfig:
    keys: tuple[str, ...]
    fast: bool = False
    strict_default: bool = False
    max_message_bytes: int = 32768
    max_request_bytes: int = 500_000


class _Unreadable(ValueError):
    """Raised when a body is JSON but not shaped like calls (always a 400: nothing to accept)."""


@dataclass
class _Call:
    index: int | None
    message_id: str | None
    kind: str | None
    reasons: list[str]
    message: dict[str, Any] | None = None


class PipelinesService:
    """Answers Pipelines requests; thread-safe (state lives in the recorder, faults, budget)."""

    def __init__(
        self,
        config: PipelinesConfig,
        recorder: Recorder,
        faults: Faults,
        budget: SlidingWindowBudget,
        validator: MessageValidator,
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.faults = faults
        self.budget = budget
        self.validator = validator

    def arrive(self, now: float) -> bool:
        """Count a request whose headers arrived; True means drop it before reading the body."""
        self.recorder.note_request(now)
        if self.faults.drop_before_read():
            self.recorder.note_event("dropped_before_read")
            return True
        return False

    def handle(self, call: str, headers: Mapping[str, str], body: bytes, now: float) -> Reply:
        """Answer one request to ``/v1/<call>`` (header names lower-case, ``now`` monotonic)."""
        self.recorder.note_body(len(body))
        reply = self._answer(call, headers, body, now)
        if reply.status == 200 and self.faults.drop_after_accept():
            self.recorder.note_event("dropped_after_accept")
            reply.drop = True
        else:
            self.recorder.note_status(reply.status)
        self.recorder.note_answer(now, reply.status, reply.headers.get("Retry-After"))
        reply.delay_s = self.faults.latency_s
        return reply

    def _answer(self, call: str, headers: Mapping[str, str], body: bytes, now: float) -> Reply:
        outcome = authenticate_pipelines(headers.get("authorization"), self.config.keys)
        if outcome.key is None:
            return error_reply(401, "unauthorized", [outcome.reason])
        storm = self.faults.storm_retry_after(now)
        if storm is not None:
            reason = "rate limited (429 storm fault injection)"
            return error_reply(429, "rate_limited", [reason], {"Retry-After": str(storm)})
        wait = self.budget.admit(outcome.key, now)
        if wait > 0:
            self.recorder.note_event("rate_limited")
            retry = retry_after_seconds(wait)
            reason = (
                f"over the rate budget of {self.budget.limit} requests per "
                f"{self.budget.window_s:g} s for this key; retry after {retry} s"
            )
            return error_reply(429, "rate_limited", [reason], {"Retry-After": str(retry)})
        injected = self.faults.injected_error()
        if injected is not None:
            self.recorder.note_event("injected_errors")
            return error_reply(injected, "injected_fault", [f"{injected} by fault injection"])

        strict = self.config.strict_default or headers.get("x-strict-mode", "").strip() == "1"
        endpoint = f"/v1/{call}"
        decoded, problem = _decode(body, headers.get("content-encoding", ""))
        if decoded is None:
            return self._unreadable(endpoint, problem)
        self.recorder.note_decoded(len(decoded))
        if len(decoded) > self.config.max_request_bytes:
            return self._oversize(call, decoded, strict)
        try:
            calls = self._fast_calls(call, decoded) if self.config.fast else None
            if calls is None:
                calls = self._read_calls(call, orjson.loads(decoded))
        except orjson.JSONDecodeError as exc:
            return self._unreadable(endpoint, f"body is not valid JSON: {exc}")
        except _Unreadable as exc:
            return self._unreadable(endpoint, str(exc))
        return self._finish(call, calls, strict)

    # -- reading calls -------------------------------------------------------------------

    def _read_calls(self, call: str, document: Any) -> list[_Call]:
        if call != "batch":
            if not isinstance(document, dict):
                raise _Unreadable("body must be a JSON object")
            return [self._check(None, dict(document, type=call), _size(document))]
        items = document.get("batch") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise _Unreadable("body must be a JSON object with a 'batch' array of calls")
        envelope = [] if self.config.fast else self.validator.check_envelope(document)
        calls = [self._check(i, item, _size(item)) for i, item in enumerate(items)]
        for c in calls:
            c.reasons[:0] = [f"batch envelope: {reason}" for reason in envelope]
        return calls

    def _check(self, index: int | None, item: Any, size: int) -> _Call:
        if not isinstance(item, dict):
            return _Call(index, None, None, ["call must be a JSON object"])
        message_id = item.get("messageId") if isinstance(item.get("messageId"), str) else None
        kind = item.get("type") if item.get("type") in CALL_TYPES else None
        reasons = self._limit_reasons(message_id, size)
        if not self.config.fast:  # fast mode checks sizes and fault ids only, parsed or not
            reasons += [_TYPE_RULE] if kind is None else self.validator.check_message(item, kind)
        return _Call(index, message_id, kind, reasons, item)

    def _limit_reasons(self, message_id: str | None, size: int) -> list[str]:
        reasons = []
        limit = self.config.max_message_bytes
        if size > limit:
            reasons.append(f"message is {size} bytes, over the {limit}-byte limit")
        if message_id is not None and message_id in self.faults.rejected_ids:
            reasons.append(f"messageId {message_id} rejected by fault injection")
        return reasons

    def _fast_calls(self, call: str, decoded: bytes) -> list[_Call] | None:
        """Fast mode: calls from a regex scan, or ``None`` when the body must be read whole
        (see :mod:`fastscan`). Records and returns ``[]`` when nothing needs a per-call look."""
        scan = scan_body(decoded, call == "batch", self.config.max_message_bytes)
        if scan.needs_parse:
            return None
        rejected_ids = self.faults.rejected_ids
        if not rejected_ids or rejected_ids.isdisjoint(scan.ids):
            without_id = 0 if call == "batch" or scan.ids else 1
            self.recorder.record_ids(scan.ids, without_id)
            return []
        kind = None if call == "batch" else call
        return [
            _Call(i if call == "batch" else None, m, kind, self._limit_reasons(m, 0))
            for i, m in enumerate(scan.ids)
        ]

    # -- answering -----------------------------------------------------------------------

    def _finish(self, call: str, calls: list[_Call], strict: bool) -> Reply:
        if not calls:
            return Reply(200)
        endpoint = f"/v1/{call}"
        invalid = [c for c in calls if c.reasons]
        if strict and invalid:
            errors = [reason for c in invalid for reason in _labelled(call, c)]
            note = f"not accepted: the request was rejected in strict mode ({len(invalid)} invalid)"
            rejected = [_rejection(c, c.reasons or [note], 400, endpoint) for c in calls]
            self._record([], rejected, whole_request=True)
            return error_reply(400, "invalid_request", errors)
        accepted = [c for c in calls if not c.reasons]
        rejected = [_rejection(c, c.reasons, 200, endpoint) for c in invalid]
        self._record(accepted, rejected)
        return Reply(200)

    def _record(
        self, accepted: list[_Call], rejected: list[Rejection], *, whole_request: bool = False
    ) -> None:
        if self.config.fast:
            ids = [c.message_id for c in accepted if c.message_id is not None]
            without = len(accepted) - len(ids)
            self.recorder.record_ids(ids, without, rejected, whole_request=whole_request)
        else:
            messages = [c.message for c in accepted if c.message is not None]
            self.recorder.record(messages, rejected, whole_request=whole_request)

    def _unreadable(self, endpoint: str, reason: str) -> Reply:
        entry = Rejection(
            messageId=None, type=None, reasons=[reason], status=400, endpoint=endpoint, index=None
        )
        self.recorder.record([], unreadable=entry)
        return error_reply(400, "invalid_request", [reason])

    def _oversize(self, call: str, decoded: bytes, strict: bool) -> Reply:
        limit = self.config.max_request_bytes
        reason = f"request body is {len(decoded)} bytes, over the {limit}-byte limit"
        status = 400 if strict else 200
        endpoint = f"/v1/{call}"
        if self.config.fast:
            ids = find_ids(decoded)
            calls = [_Call(None, m, None, [reason]) for m in ids]
        else:
            try:
                calls = self._read_calls(call, orjson.loads(decoded))
            except (orjson.JSONDecodeError, _Unreadable):
                calls = []
        if not calls:
            entry = Rejection(
                messageId=None,
                type=None,
                reasons=[reason],
                status=status,
                endpoint=endpoint,
                index=None,
            )
            self.recorder.record([], unreadable=entry)
        else:
            rejected = [_rejection(c, [reason], status, endpoint) for c in calls]
            self._record([], rejected, whole_request=True)
        return error_reply(400, "request_too_large", [reason]) if strict else Reply(200)


def _decode(body: bytes, encoding: str) -> tuple[bytes | None, str]:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body, ""
    if encoding == "gzip":
        try:
            return gzip.decompress(body), ""
        except (OSError, EOFError, zlib.error):
            return None, "body is not valid gzip (Content-Encoding: gzip)"
    return None, f"unsupported Content-Encoding {encoding!r} (send gzip or none)"


def _size(message: Any) -> int:
    """The size of a call as compact JSON, the measure of the 32 KB limit."""
    return len(orjson.dumps(message))


def _labelled(call: str, c: _Call) -> list[str]:
    where = f"batch[{c.index}] " if call == "batch" and c.index is not None else ""
    who = f"messageId={c.message_id}" if c.message_id is not None else "(no messageId)"
    return [f"{where}{c.kind or 'call'} {who}: {reason}" for reason in c.reasons]


def _rejection(c: _Call, reasons: list[str], status: int, endpoint: str) -> Rejection:
    return Rejection(
        messageId=c.message_id,
        type=c.kind,
        reasons=list(reasons),
        status=status,
        endpoint=endpoint,
        index=c.index,
    )
