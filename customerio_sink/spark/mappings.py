"""What a user maps: one class per kind of thing sent to Customer.io.

Each class names the source columns of its kind and checks them when built; the sink reads it
as a :class:`~customerio_sink.spark.mapping.MessageMapping` (``to_mapping()``)::

    cio.People(user_id="id", traits=["email", "plan"])  # identify; deletes → User Deleted
    cio.Events(user_id="user_id", event_column="event", properties_json="props", row_id="event_id")
    cio.Objects(object_id="account_id", object_type_id="1", traits=["name", "plan"])
    cio.Relationships(user_id="user_id", object_id="account_id", traits=["role"])
    cio.Devices(user_id="user_id", device_token="token", platform="platform")

``source`` says how the table is read: ``"cdf"`` (its change data feed: inserts and updates are
sent, deletes become the kind's delete event) or ``"queue"`` (an append-only table: each new row
is one call). People, objects, relationships and devices default to ``"cdf"``, events to
``"queue"``. Column lists may be a list of names or a dict of output name → column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from customerio_sink.errors import ConfigError

__all__ = ["Devices", "Events", "Objects", "People", "Relationships", "SinkMapping"]

Columns = Sequence[str] | Mapping[str, str]


def _columns(name: str, value: Columns | None) -> tuple[str, ...] | dict[str, str]:
    if value is None:
        return ()
    if isinstance(value, str):
        raise ConfigError(f"{name}: a list of column names (or a dict), got the string {value!r}")
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return tuple(str(v) for v in value)


def _source(kind: str, source: str) -> str:
    if source not in ("cdf", "queue"):
        raise ConfigError(f"{kind}(source=...): 'cdf' (change feed) or 'queue', got {source!r}")
    return source


def _object_type(value: str | int) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise ConfigError(f"object_type_id: a number such as '1', got {value!r}")
    return text


@dataclass(frozen=True)
class People:
    """People: ``identify`` per insert/update; deletes send ``User Deleted`` (change feeds)."""

    user_id: str | None = None
    traits: Columns | None = None
    traits_json: str | None = None
    anonymous_id: str | None = None
    email: str = "email"
    timestamp: str | None = None
    source: str = "cdf"
    #: A queue of snapshots: send only each person's latest row (by ``timestamp``) per batch.
    latest_per_key: bool = False

    def to_mapping(self) -> Any:
        """The engine's :class:`MessageMapping` for these settings.

        Raises:
            ConfigError: a setting is missing or out of range; the message names it.
        """
        from customerio_sink.spark.mapping import MessageMapping

        if not (self.user_id or self.anonymous_id):
            raise ConfigError("People: give user_id (or anonymous_id), the id column")
        return MessageMapping(
            source=_source("People", self.source),
            call="identify",
            entity="person",
            user_id=self.user_id,
            anonymous_id=self.anonymous_id,
            traits=_columns("traits", self.traits),
            traits_json=self.traits_json,
            email=self.email,
            timestamp=self.timestamp,
            latest_per_key=self.latest_per_key,
        )


@dataclass(frozen=True)
class Events:
    """Events: one ``track`` (or ``page``/``screen`` with ``call``) per appended row."""

    user_id: str | None = None
    event: str | None = None
    event_column: str | None = None
    properties: Columns | None = None
    properties_json: str | None = None
    timestamp: str | None = None
    row_id: str | None = None
    anonymous_id: str | None = None
    call: str = "track"
    name_column: str | None = None
    context_json: str | None = None
    source: str = "queue"
    family: str | None = None

    def to_mapping(self) -> Any:
        """The engine's :class:`MessageMapping` for these settings.

        Raises:
            ConfigError: a setting is missing or out of range; the message names it.
        """
        from customerio_sink.spark.mapping import MessageMapping

        if self.family is not None:
            from customerio_sink.spark.quality import family_events

            events = family_events(self.family)
            if self.event and self.event not in events:
                raise ConfigError(
                    f"Events(family={self.family!r}): event {self.event!r} is not one of its "
                    f"events ({', '.join(events)})"
                )
        if self.call not in ("track", "page", "screen"):
            raise ConfigError(f"Events(call=...): 'track', 'page' or 'screen', got {self.call!r}")
        if self.source != "queue":
            raise ConfigError("Events: source must be 'queue' (an append-only events table)")
        if not (self.user_id or self.anonymous_id):
            raise ConfigError("Events: give user_id (or anonymous_id), the person's id column")
        if self.call == "track" and not (self.event or self.event_column):
            raise ConfigError("Events: give event (one name for every row) or event_column")
        return MessageMapping(
            source="queue",
            call=self.call,
            user_id=self.user_id,
            anonymous_id=self.anonymous_id,
            event=self.event,
            event_column=self.event_column,
            properties=_columns("properties", self.properties),
            properties_json=self.properties_json,
            timestamp=self.timestamp,
            row_id=self.row_id,
            name_column=self.name_column,
            context_json=self.context_json,
            family=self.family,
        )


@dataclass(frozen=True)
class Objects:
    """Objects (accounts, companies, …): ``group`` per insert/update, ``Object Deleted`` per
    delete. ``object_type_id`` is the workspace's object type (a number)."""

    object_id: str
    object_type_id: str | int = "1"
    traits: Columns | None = None
    timestamp: str | None = None
    source: str = "cdf"

    def to_mapping(self) -> Any:
        """The engine's :class:`MessageMapping` for these settings.

        Raises:
            ConfigError: a setting is missing or out of range; the message names it.
        """
        from customerio_sink.spark.mapping import MessageMapping

        if _source("Objects", self.source) != "cdf":
            raise ConfigError("Objects: source must be 'cdf' (the objects table's change feed)")
        return MessageMapping(
            source="cdf",
            entity="object",
            group_id=self.object_id,
            object_type_id=_object_type(self.object_type_id),
            traits=_columns("traits", self.traits),
            timestamp=self.timestamp,
        )


@dataclass(frozen=True)
class Relationships:
    """Person ↔ object relationships: ``group`` with the person per insert/update,
    ``Relationship Deleted`` per delete; ``traits`` are the relationship's attributes."""

    user_id: str
    object_id: str
    object_type_id: str | int = "1"
    traits: Columns | None = None
    key: str | None = None
    timestamp: str | None = None
    source: str = "cdf"

    def to_mapping(self) -> Any:
        """The engine's :class:`MessageMapping` for these settings.

        Raises:
            ConfigError: a setting is missing or out of range; the message names it.
        """
        from customerio_sink.spark.mapping import MessageMapping

        if _source("Relationships", self.source) != "cdf":
            raise ConfigError("Relationships: source must be 'cdf' (the table's change feed)")
        return MessageMapping(
            source="cdf",
            entity="relationship",
            user_id=self.user_id,
            group_id=self.object_id,
            object_type_id=_object_type(self.object_type_id),
            traits=_columns("traits", self.traits),
            key=self.key,
            timestamp=self.timestamp,
        )


@dataclass(frozen=True)
class Devices:
    """Devices: ``Device Created or Updated`` per insert/update, ``Device Deleted`` per delete;
    ``attributes`` travel in the device's context."""

    user_id: str
    device_token: str
    platform: str | None = None
    attributes: Columns | None = None
    timestamp: str | None = None
    source: str = "cdf"

    def to_mapping(self) -> Any:
        """The engine's :class:`MessageMapping` for these settings.

        Raises:
            ConfigError: a setting is missing or out of range; the message names it.
        """
        from customerio_sink.spark.mapping import MessageMapping

        if _source("Devices", self.source) != "cdf":
            raise ConfigError("Devices: source must be 'cdf' (the devices table's change feed)")
        return MessageMapping(
            source="cdf",
            entity="device",
            user_id=self.user_id,
            device_token=self.device_token,
            device_platform=self.platform,
            traits=_columns("attributes", self.attributes),
            timestamp=self.timestamp,
        )


SinkMapping = People | Events | Objects | Relationships | Devices
"""Any one of the mapping classes: what ``cio.sync`` and ``cio.writer`` accept as ``mapping=``."""
