"""Email events (the list Customer.io gives): bounced, delivered, link clicked, marked as spam,
opened, unsubscribed.

Properties: ``email_id``, ``email_subject``, ``campaign_id``, ``campaign_name``; a link click
adds ``link_id`` and ``link_url``, an unsubscribe ``list_id`` and ``list_name``. The recipient
(``email``), ``ip`` and ``user_agent`` are not properties: the builder puts them in
``context.traits.email``, ``context.ip`` and ``context.userAgent``, where the spec has them.

Rules: ``email`` is an address (the package's own email rule), ``link_url`` an absolute http(s)
URL, and every event but ``Unsubscribed`` names its email (``email_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from customerio_sink.catalog.base import CatalogEvent, Family
from customerio_sink.catalog.constraints import Required, Rule, email, url

__all__ = [
    "EVENTS",
    "EmailBounced",
    "EmailDelivered",
    "EmailLinkClicked",
    "EmailMarkedAsSpam",
    "EmailOpened",
    "Unsubscribed",
]

_RECIPIENT: tuple[Rule, ...] = (email("email"),)
_NAMES_THE_EMAIL = Required("email_id")


class _Email(CatalogEvent):
    FAMILY: ClassVar[Family] = "email"
    RULES: ClassVar[tuple[Rule, ...]] = (_NAMES_THE_EMAIL, *_RECIPIENT)
    CONTEXT: ClassVar[Mapping[str, str]] = {
        "email": "traits.email",
        "ip": "ip",
        "user_agent": "userAgent",
    }
    email_id: str | None = None
    email_subject: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    email: str | None = None
    ip: str | None = None
    user_agent: str | None = None


class EmailBounced(_Email):
    """The email bounced."""

    EVENT: ClassVar[str] = "Email Bounced"


class EmailDelivered(_Email):
    """The email was delivered."""

    EVENT: ClassVar[str] = "Email Delivered"


class EmailLinkClicked(_Email):
    """A link (``link_id``, ``link_url``) in the email was clicked."""

    EVENT: ClassVar[str] = "Email Link Clicked"
    RULES: ClassVar[tuple[Rule, ...]] = (*_Email.RULES, url("link_url"))
    link_id: str | None = None
    link_url: str | None = None


class EmailMarkedAsSpam(_Email):
    """The recipient marked the email as spam."""

    EVENT: ClassVar[str] = "Email Marked as Spam"


class EmailOpened(_Email):
    """The email was opened."""

    EVENT: ClassVar[str] = "Email Opened"


class Unsubscribed(_Email):
    """The recipient left a list (``list_id``, ``list_name``); no email needs naming."""

    EVENT: ClassVar[str] = "Unsubscribed"
    RULES: ClassVar[tuple[Rule, ...]] = _RECIPIENT
    list_id: str | None = None
    list_name: str | None = None


EVENTS: tuple[type[CatalogEvent], ...] = (
    EmailBounced,
    EmailDelivered,
    EmailLinkClicked,
    EmailMarkedAsSpam,
    EmailOpened,
    Unsubscribed,
)
