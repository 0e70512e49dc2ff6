"""Customer.io semantic events: ``track`` calls whose event name makes Journeys act.

Customer.io's Pipelines API has no DELETE; deleting a person, suppressing an identifier,
managing devices and removing relationships or objects are ``track`` calls with these exact
event names (reference §4.1). Each model fixes the event name and requires the fields that make
the event do something:

=============================  ================================================================
event                          model (required fields)
=============================  ================================================================
``User Deleted``               :class:`UserDeleted` (user_id)
``User Suppressed``            :class:`UserSuppressed` (user_id)
``User Unsuppressed``          :class:`UserUnsuppressed` (user_id)
``Device Created or Updated``  :class:`DeviceCreatedOrUpdated` (user_id, token)
``Device Deleted``             :class:`DeviceDeleted` (user_id, token)
``Relationship Deleted``       :class:`RelationshipDeleted` (user_id, object_id)
``Object Deleted``             :class:`ObjectDeleted` (object_id)
``Report Delivery Event``      :class:`ReportDeliveryEvent` (delivery_id, metric)
``Report Content Event``       :class:`ReportContentEvent` (action_type, content_id, template_id)
=============================  ================================================================

Deleting is not suppressing: a deleted person comes back with the next identify, a suppressed
identifier cannot be added back. Erasure is ``User Deleted`` followed by ``User Suppressed``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from customerio_sink.messages.models import Message, stringify_id

__all__ = [
    "SEMANTIC_MODELS",
    "DeviceCreatedOrUpdated",
    "DeviceDeleted",
    "ObjectDeleted",
    "RelationshipDeleted",
    "ReportContentEvent",
    "ReportDeliveryEvent",
    "SemanticEvent",
    "UserDeleted",
    "UserSuppressed",
    "UserUnsuppressed",
]

DeviceType = Literal["ios", "android"]
DeliveryMetric = Literal["delivered", "clicked", "converted", "opened"]
ContentAction = Literal["viewed_content", "clicked_content"]


class SemanticEvent(Message):
    """A ``track`` call with a fixed ``EVENT`` name; ``properties`` are passed through."""

    TYPE: ClassVar[str] = "track"
    EVENT: ClassVar[str] = ""
    properties: dict[str, Any] | None = None

    def _semantic_properties(self) -> dict[str, Any]:
        return {}

    def _fields(self, wire: dict[str, Any]) -> None:
        wire["event"] = self.EVENT
        own = self._semantic_properties()
        if own or self.properties is not None:
            wire["properties"] = {**(self.properties or {}), **own}


class UserDeleted(SemanticEvent):
    """Remove the person ``user_id`` from the workspace (they come back on the next identify)."""

    EVENT: ClassVar[str] = "User Deleted"
    user_id: str


class UserSuppressed(SemanticEvent):
    """Remove the person and suppress the identifier so it cannot be added back."""

    EVENT: ClassVar[str] = "User Suppressed"
    user_id: str


class UserUnsuppressed(SemanticEvent):
    """Allow a suppressed identifier to be added and messaged again."""

    EVENT: ClassVar[str] = "User Unsuppressed"
    user_id: str


class _DeviceEvent(SemanticEvent):
    user_id: str
    token: str
    device_type: DeviceType | None = None

    def _device(self) -> dict[str, Any]:
        device: dict[str, Any] = {"token": self.token}
        if self.device_type is not None:
            device["type"] = self.device_type
        return device

    def _wire_context(self) -> dict[str, Any]:
        context = dict(self.context or {})
        context["device"] = {**(context.get("device") or {}), **self._device()}
        return context


class DeviceCreatedOrUpdated(_DeviceEvent):
    """Add the device ``token`` to the person, or update it; ``device_attributes`` are extra."""

    EVENT: ClassVar[str] = "Device Created or Updated"
    device_attributes: dict[str, Any] | None = None

    def _device(self) -> dict[str, Any]:
        return {**(self.device_attributes or {}), **super()._device()}


class DeviceDeleted(_DeviceEvent):
    """Remove the device ``token`` from the person."""

    EVENT: ClassVar[str] = "Device Deleted"


class _ObjectEvent(SemanticEvent):
    object_id: str
    object_type_id: int = 1

    @field_validator("object_id", mode="before")
    @classmethod
    def _object_as_string(cls, value: Any) -> Any:
        return stringify_id(value)

    def _semantic_properties(self) -> dict[str, Any]:
        return {"objectId": self.object_id, "objectTypeId": self.object_type_id}


class RelationshipDeleted(_ObjectEvent):
    """Remove the relationship between the person ``user_id`` and an object."""

    EVENT: ClassVar[str] = "Relationship Deleted"
    user_id: str


class ObjectDeleted(_ObjectEvent):
    """Delete an object. The spec requires an ``anonymousId`` on this event but gives it no
    meaning; the object id is used unless one is given."""

    EVENT: ClassVar[str] = "Object Deleted"

    def to_wire(self) -> dict[str, Any]:
        wire = super().to_wire()
        if "anonymousId" not in wire:
            wire = {"anonymousId": self.object_id, **wire}
        return wire


class ReportDeliveryEvent(SemanticEvent):
    """Report a delivery metric (delivered/opened/clicked/converted) for a message.

    Without a person id the ``delivery_id`` is sent as ``anonymousId``, as Customer.io's mobile
    SDKs do.
    """

    EVENT: ClassVar[str] = "Report Delivery Event"
    delivery_id: str
    metric: DeliveryMetric
    recipient: str | None = None
    reason: str | None = None
    action_value: str | None = None
    href: str | None = None

    def _semantic_properties(self) -> dict[str, Any]:
        own: dict[str, Any] = {"deliveryId": self.delivery_id, "metric": self.metric}
        for key, value in (
            ("recipient", self.recipient),
            ("reason", self.reason),
            ("actionValue", self.action_value),
            ("href", self.href),
        ):
            if value is not None:
                own[key] = value
        return own

    def to_wire(self) -> dict[str, Any]:
        wire = super().to_wire()
        if "userId" not in wire and "anonymousId" not in wire:
            wire = {"anonymousId": self.delivery_id, **wire}
        return wire


class ReportContentEvent(SemanticEvent):
    """Report an impression or click of anonymous content (``viewed_content``/``clicked_content``).

    The spec's schema documents ``actionType`` but lists ``activityType`` as required; the value
    is sent under both names so either reading finds it.
    """

    EVENT: ClassVar[str] = "Report Content Event"
    action_type: ContentAction
    content_id: int
    template_id: int

    def _semantic_properties(self) -> dict[str, Any]:
        return {
            "actionType": self.action_type,
            "activityType": self.action_type,
            "contentId": self.content_id,
            "templateId": self.template_id,
        }


SEMANTIC_MODELS: dict[str, type[SemanticEvent]] = {
    model.EVENT: model
    for model in (
        UserDeleted,
        UserSuppressed,
        UserUnsuppressed,
        DeviceCreatedOrUpdated,
        DeviceDeleted,
        RelationshipDeleted,
        ObjectDeleted,
        ReportDeliveryEvent,
        ReportContentEvent,
    )
}
