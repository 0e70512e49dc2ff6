"""The error tree: shape, attributes, safe text, pickling."""

from __future__ import annotations

import pickle

import pytest

from customerio_sink import errors
from customerio_sink.errors import (
    AuthenticationError,
    CircuitOpenError,
    ConfigError,
    CustomerIOSinkError,
    DecryptionError,
    DeltaUnavailableError,
    PayloadTooLargeError,
    RateLimitedError,
    RejectedError,
    TransientError,
    ValidationError,
    Violation,
)


def test_tree_is_as_drawn_in_the_docstring() -> None:
    direct = [
        ConfigError,
        ValidationError,
        PayloadTooLargeError,
        AuthenticationError,
        RejectedError,
        TransientError,
    ]
    for cls in direct:
        assert cls.__bases__ == (CustomerIOSinkError,)
    assert RateLimitedError.__bases__ == (TransientError,)
    assert CircuitOpenError.__bases__ == (TransientError,)
    assert DeltaUnavailableError.__bases__ == (ConfigError,)
    assert DecryptionError.__bases__ == (ConfigError,)
    for cls in [
        *direct,
        RateLimitedError,
        CircuitOpenError,
        DeltaUnavailableError,
        DecryptionError,
    ]:
        assert cls.__name__ in (errors.__doc__ or "")
        assert (cls.__doc__ or "").startswith("Raised when")


def test_instances_carry_status_code_ids_and_attempts() -> None:
    err = RejectedError(
        status=400,
        code="http_400",
        message_ids=["a", "b", "c", "d"],
        attempts=1,
        reasons=["SERVER-REASON"],
    )
    assert (err.status, err.code, err.message_ids, err.attempts) == (
        400,
        "http_400",
        ("a", "b", "c", "d"),
        1,
    )
    assert err.reasons == ["SERVER-REASON"]
    text = str(err)
    assert "status=400" in text and "a,b,c" in text and "+1 more" in text
    assert "SERVER-REASON" not in text  # a server may quote values: reasons stay out of str()


def test_validation_error_names_field_and_rule() -> None:
    err = ValidationError.from_violations(
        [
            Violation("traits.email", "email_format", "expected local@domain.tld"),
            Violation("a", "b"),
        ]
    )
    assert (err.field, err.rule, err.code) == ("traits.email", "email_format", "email_format")
    assert len(err.violations) == 2
    assert "traits.email" in str(err) and "+1 more" in str(err)


def test_payload_too_large_names_the_index() -> None:
    err = PayloadTooLargeError(40000, 32768, index=7)
    assert (err.size, err.limit, err.index) == (40000, 32768, 7)
    assert "item 7" in str(err)


def test_rate_limited_and_circuit_open_carry_retry_after() -> None:
    assert RateLimitedError(retry_after=2.5).retry_after == 2.5
    assert RateLimitedError().status == 429
    assert CircuitOpenError(retry_after=3.0).retry_after == 3.0


@pytest.mark.parametrize(
    "err",
    [
        ValidationError("userId", "required", violations=[Violation("userId", "required")]),
        PayloadTooLargeError(1, 0, index=2, message_ids=["m"]),
        RejectedError(status=422, reasons=["r"], message_ids=["m"], attempts=1),
        RateLimitedError(retry_after=1.0, attempts=6),
        CircuitOpenError(retry_after=4.0),
        TransientError("x", status=None, code="connection_error", attempts=3),
    ],
)
def test_errors_pickle_round_trip(err: CustomerIOSinkError) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert back.__dict__ == err.__dict__
    assert str(back) == str(err)
