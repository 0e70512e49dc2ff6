"""The per-call API shared by the Pipelines client: one method per call type and semantic event.

:class:`MessageCalls` builds the validated model for each call and hands it to ``send`` — which
the class using it provides (:class:`~customerio_sink.client.pipelines.CustomerIOClient` sends to
``/v1/<type>``). Keeping the thirteen thin wrappers here keeps the client module about sending.
Every method accepts the common fields as keywords: ``context``, ``integrations``,
``timestamp`` (``datetime``, ``date`` or ISO-8601 string) and ``message_id``; the semantic
helpers also take ``properties`` and ``anonymous_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from customerio_sink.client.metrics import RequestMetrics
from customerio_sink.messages import semantic
from customerio_sink.messages.models import Alias, Group, Identify, Message, Page, Screen, Track

__all__ = ["MessageCalls"]

Timestamp = datetime | date | str | None
M = TypeVar("M", bound=Message)


def _build(model: type[M], **fields: Any) -> M:
    # Builds through the model's own __init__ (which turns pydantic errors into ours); typed
    # loosely on purpose: the model validates, so mypy need not re-check every keyword.
    return model(**fields)


class MessageCalls:
    """identify/track/page/screen/group/alias and the semantic helpers, over ``send``."""

    def send(self, message: Message | Mapping[str, Any]) -> RequestMetrics:
        """Send one message (provided by the client class)."""
        raise NotImplementedError

    def identify(
        self,
        user_id: str | int | None = None,
        traits: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        integrations: Mapping[str, bool] | None = None,
        timestamp: Timestamp = None,
        message_id: str | None = None,
    ) -> RequestMetrics:
        """Create or update a person (POST /v1/identify)."""
        return self.send(
            _build(
                Identify,
                user_id=user_id,
                anonymous_id=anonymous_id,
                traits=traits,
                context=context,
                integrations=integrations,
                timestamp=timestamp,
                message_id=message_id,
            )
        )

    def track(
        self,
        user_id: str | int | None = None,
        event: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        integrations: Mapping[str, bool] | None = None,
        timestamp: Timestamp = None,
        message_id: str | None = None,
    ) -> RequestMetrics:
        """Record an event for a person (POST /v1/track)."""
        return self.send(
            _build(
                Track,
                user_id=user_id,
                anonymous_id=anonymous_id,
                group_id=group_id,
                event=event,
                properties=properties,
                context=context,
                integrations=integrations,
                timestamp=timestamp,
                message_id=message_id,
            )
        )

    def page(
        self,
        user_id: str | int | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        category: str | None = None,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        integrations: Mapping[str, bool] | None = None,
        timestamp: Timestamp = None,
        message_id: str | None = None,
    ) -> RequestMetrics:
        """Record a page view (POST /v1/page)."""
        return self.send(
            _build(
                Page,
                user_id=user_id,
                anonymous_id=anonymous_id,
                name=name,
                category=category,
                properties=properties,
                context=context,
                integrations=integrations,
                timestamp=timestamp,
                message_id=message_id,
            )
        )

    def screen(
        self,
        user_id: str | int | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        integrations: Mapping[str, bool] | None = None,
        timestamp: Timestamp = None,
        message_id: str | None = None,
    ) -> RequestMetrics:
        """Record a mobile screen view (POST /v1/screen)."""
        return self.send(
            _build(
                Screen,
                user_id=user_id,
                anonymous_id=anonymous_id,
                name=name,
                properties=properties,
                context=context,
                integrations=integrations,
                timestamp=timestamp,
                message_id=message_id,
            )
        )

    def group(
        self,
        user_id: str | int | None = None,
        group_id: str | int | None = None,
        traits: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        integrations: Mapping[str, bool] | None = None,
        timestamp: Timestamp = None,
        message_id: str | None = None,
    ) -> RequestMetrics:
        """Create or update an object and relate the person to it (POST /v1/group)."""
        return self.send(
            _build(
                Group,
                user_id=user_id,
                anonymous_id=anonymous_id,
                group_id=group_id,
                traits=traits,
                context=context,
                integrations=integrations,
                timestamp=timestamp,
                message_id=message_id,
            )
        )

    def alias(
        self,
        previous_id: str | int,
        user_id: str | int,
        *,
        context: Mapping[str, Any] | None = None,
        integrations: Mapping[str, bool] | None = None,
        timestamp: Timestamp = None,
        message_id: str | None = None,
    ) -> RequestMetrics:
        """Merge ``previous_id`` into the profile ``user_id`` (POST /v1/alias)."""
        return self.send(
            _build(
                Alias,
                previous_id=previous_id,
                user_id=user_id,
                context=context,
                integrations=integrations,
                timestamp=timestamp,
                message_id=message_id,
            )
        )

    # -- semantic events (all POST /v1/track) ---------------------------------------------------

    def delete_user(self, user_id: str | int, **common: Any) -> RequestMetrics:
        """``User Deleted``: remove the person (an identify brings them back; see suppress)."""
        return self.send(_build(semantic.UserDeleted, user_id=user_id, **common))

    def suppress_user(self, user_id: str | int, **common: Any) -> RequestMetrics:
        """``User Suppressed``: remove the person and block the identifier from coming back."""
        return self.send(_build(semantic.UserSuppressed, user_id=user_id, **common))

    def unsuppress_user(self, user_id: str | int, **common: Any) -> RequestMetrics:
        """``User Unsuppressed``: allow a suppressed identifier again."""
        return self.send(_build(semantic.UserUnsuppressed, user_id=user_id, **common))

    def add_device(
        self,
        user_id: str | int,
        token: str,
        *,
        device_type: str | None = None,
        device_attributes: Mapping[str, Any] | None = None,
        **common: Any,
    ) -> RequestMetrics:
        """``Device Created or Updated``: add or update the device ``token`` ("ios"/"android")."""
        return self.send(
            _build(
                semantic.DeviceCreatedOrUpdated,
                user_id=user_id,
                token=token,
                device_type=device_type,
                device_attributes=device_attributes,
                **common,
            )
        )

    def delete_device(
        self, user_id: str | int, token: str, *, device_type: str | None = None, **common: Any
    ) -> RequestMetrics:
        """``Device Deleted``: remove the device ``token`` from the person."""
        return self.send(
            _build(
                semantic.DeviceDeleted,
                user_id=user_id,
                token=token,
                device_type=device_type,
                **common,
            )
        )

    def delete_relationship(
        self, user_id: str | int, object_id: str | int, *, object_type_id: int = 1, **common: Any
    ) -> RequestMetrics:
        """``Relationship Deleted``: unlink the person from the object."""
        return self.send(
            _build(
                semantic.RelationshipDeleted,
                user_id=user_id,
                object_id=object_id,
                object_type_id=object_type_id,
                **common,
            )
        )

    def delete_object(
        self, object_id: str | int, *, object_type_id: int = 1, **common: Any
    ) -> RequestMetrics:
        """``Object Deleted``: delete the object (``anonymous_id`` defaults to the object id)."""
        return self.send(
            _build(
                semantic.ObjectDeleted, object_id=object_id, object_type_id=object_type_id, **common
            )
        )

    def report_delivery_event(
        self,
        delivery_id: str,
        metric: str,
        *,
        recipient: str | None = None,
        reason: str | None = None,
        action_value: str | None = None,
        href: str | None = None,
        **common: Any,
    ) -> RequestMetrics:
        """``Report Delivery Event``: a delivered/opened/clicked/converted metric for a message."""
        return self.send(
            _build(
                semantic.ReportDeliveryEvent,
                delivery_id=delivery_id,
                metric=metric,
                recipient=recipient,
                reason=reason,
                action_value=action_value,
                href=href,
                **common,
            )
        )

    def report_content_event(
        self, action_type: str, content_id: int, template_id: int, **common: Any
    ) -> RequestMetrics:
        """``Report Content Event``: ``viewed_content``/``clicked_content`` of anonymous content."""
        return self.send(
            _build(
                semantic.ReportContentEvent,
                action_type=action_type,
                content_id=content_id,
                template_id=template_id,
                **common,
            )
        )
