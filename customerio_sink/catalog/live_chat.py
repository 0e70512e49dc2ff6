"""Live chat events (Segment's names; Customer.io has a page for them but its list is not
confirmed, so every event here has ``CONFIRMED = False``).

``message_id`` is the chat message's id, a property; the call's own id is given as
``messageId`` or as the builder's ``message_id`` keyword. Rules: a conversation is named
(``conversation_id``), ``conversation_duration`` (seconds) ≥ 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from customerio_sink.catalog.base import CatalogEvent, Family
from customerio_sink.catalog.constraints import Required, Rule, non_negative

__all__ = [
    "EVENTS",
    "LiveChatConversationEnded",
    "LiveChatConversationStarted",
    "LiveChatMessageReceived",
    "LiveChatMessageSent",
]


class _LiveChat(CatalogEvent):
    FAMILY: ClassVar[Family] = "live_chat"
    CONFIRMED: ClassVar[bool] = False
    RULES: ClassVar[tuple[Rule, ...]] = (
        Required("conversation_id"),
        non_negative("conversation_duration"),
    )
    conversation_id: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    agent_username: str | None = None
    conversation_duration: Decimal | None = None


class LiveChatConversationStarted(_LiveChat):
    """A chat conversation began."""

    EVENT: ClassVar[str] = "Live Chat Conversation Started"


class LiveChatConversationEnded(_LiveChat):
    """A chat conversation ended, after ``conversation_duration`` seconds."""

    EVENT: ClassVar[str] = "Live Chat Conversation Ended"


class _LiveChatMessage(_LiveChat):
    message_id: str | None = None


class LiveChatMessageSent(_LiveChatMessage):
    """The person sent a chat message (``message_id``)."""

    EVENT: ClassVar[str] = "Live Chat Message Sent"


class LiveChatMessageReceived(_LiveChatMessage):
    """The person received a chat message (``message_id``)."""

    EVENT: ClassVar[str] = "Live Chat Message Received"


EVENTS: tuple[type[CatalogEvent], ...] = (
    LiveChatConversationStarted,
    LiveChatConversationEnded,
    LiveChatMessageSent,
    LiveChatMessageReceived,
)
