"""What accepted calls did to the workspace: people, objects, relationships and devices.

Calls apply in arrival order, as Customer.io applies them, so tests of a sink can check the
final state after a stream of updates and deletes. The rules:

* ``identify`` with a ``userId`` merges ``traits`` into the person (top-level keys; a later value
  wins; a ``null`` value removes the attribute, as in Customer.io). Anonymous identifies change
  nothing (Customer.io ignores them). A suppressed person's traits are not changed (a suppressed
  identifier cannot be added back).
* ``group`` merges ``traits`` (minus ``objectTypeId``/``object_type_id`` and
  ``relationshipAttributes``; ``null`` removes) into object ``(objectTypeId, groupId)`` — type id
  as a string, default ``"1"`` — and, with a ``userId``, relates the person to it.
* ``track`` semantic events: ``User Deleted`` removes the person with their devices and
  relationships; ``User Suppressed``/``User Unsuppressed`` set/clear ``suppressed`` (creating an
  empty entry when needed); ``Relationship Deleted`` and ``Object Deleted`` remove the
  relationship / the object with its relationships; ``Device Created or Updated`` stores
  ``context.device`` (minus ``token``) merged with ``properties`` under the token;
  ``Device Deleted`` removes it.
* ``page``, ``screen``, ``alias`` and other events are recorded only.

Duplicates (a re-sent ``messageId``) are applied again: whether Customer.io de-duplicates on
``messageId`` is unconfirmed, and re-applying shows what an out-of-order re-send would do.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["Workspace", "object_type_id"]

_OBJECT_TRAIT_KEYS = ("objectTypeId", "object_type_id", "relationshipAttributes")


def object_type_id(value: Any) -> str:
    """An object type id as Customer.io keys it: a stringified integer, ``"1"`` when absent."""
    return "1" if value is None or value == "" else str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _merge(into: dict[str, Any], attributes: Mapping[str, Any]) -> None:
    """Set each attribute; a ``null`` value removes it."""
    for name, value in attributes.items():
        if value is None:
            into.pop(name, None)
        else:
            into[name] = value


class Workspace:
    """People/objects/relationships/devices state; thread-safe, read through copies."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._people: dict[str, dict[str, Any]] = {}
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._relationships: set[tuple[str, str, str]] = set()
        self._devices: dict[str, dict[str, dict[str, Any]]] = {}

    def clear(self) -> None:
        with self._lock:
            self._people.clear()
            self._objects.clear()
            self._relationships.clear()
            self._devices.clear()

    @property
    def people(self) -> dict[str, dict[str, Any]]:
        """userId -> ``{"traits": {...}, "suppressed": bool}`` (a copy)."""
        with self._lock:
            return copy.deepcopy(self._people)

    @property
    def objects(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(objectTypeId, groupId) -> traits (a copy)."""
        with self._lock:
            return copy.deepcopy(self._objects)

    @property
    def relationships(self) -> set[tuple[str, str, str]]:
        """{(userId, objectTypeId, groupId)} (a copy)."""
        with self._lock:
            return set(self._relationships)

    @property
    def devices(self) -> dict[str, dict[str, dict[str, Any]]]:
        """userId -> {token: attributes} (a copy)."""
        with self._lock:
            return copy.deepcopy(self._devices)

    def apply(self, message: Mapping[str, Any]) -> None:
        """Apply one accepted call (already validated) to the state."""
        kind = message.get("type")
        with self._lock:
            if kind == "identify":
                self._identify(message)
            elif kind == "group":
                self._group(message)
            elif kind == "track":
                self._track(message)

    def _identify(self, message: Mapping[str, Any]) -> None:
        user_id = message.get("userId")
        if not user_id:
            return
        person = self._people.setdefault(user_id, {"traits": {}, "suppressed": False})
        if not person["suppressed"]:
            _merge(person["traits"], _dict(message.get("traits")))

    def _group(self, message: Mapping[str, Any]) -> None:
        traits = _dict(message.get("traits"))
        type_id = object_type_id(traits.get("objectTypeId", traits.get("object_type_id")))
        group_id = str(message.get("groupId"))
        attributes = {k: v for k, v in traits.items() if k not in _OBJECT_TRAIT_KEYS}
        _merge(self._objects.setdefault((type_id, group_id), {}), attributes)
        user_id = message.get("userId")
        if user_id:
            self._relationships.add((user_id, type_id, group_id))

    def _track(self, message: Mapping[str, Any]) -> None:
        event = message.get("event")
        user_id = message.get("userId") or ""
        properties = _dict(message.get("properties"))
        if event == "User Deleted":
            self._people.pop(user_id, None)
            self._devices.pop(user_id, None)
            self._relationships = {r for r in self._relationships if r[0] != user_id}
        elif event in ("User Suppressed", "User Unsuppressed"):
            person = self._people.setdefault(user_id, {"traits": {}, "suppressed": False})
            person["suppressed"] = event == "User Suppressed"
        elif event == "Relationship Deleted":
            type_id = object_type_id(properties.get("objectTypeId"))
            self._relationships.discard((user_id, type_id, str(properties.get("objectId"))))
        elif event == "Object Deleted":
            key = (object_type_id(properties.get("objectTypeId")), str(properties.get("objectId")))
            self._objects.pop(key, None)
            self._relationships = {r for r in self._relationships if (r[1], r[2]) != key}
        elif event in ("Device Created or Updated", "Device Deleted"):
            device = _dict(_dict(message.get("context")).get("device"))
            token = device.get("token")
            if not token:
                return
            if event == "Device Deleted":
                tokens = self._devices.get(user_id, {})
                tokens.pop(token, None)
                if not tokens:
                    self._devices.pop(user_id, None)
                return
            attributes = {k: v for k, v in device.items() if k != "token"}
            attributes.update(properties)
            self._devices.setdefault(user_id, {}).setdefault(token, {}).update(attributes)

    def find_by_email(self, email: str) -> list[tuple[str, dict[str, Any]]]:
        """Unsuppressed people whose ``traits.email`` equals ``email`` (case-insensitive)."""
        wanted = email.casefold()
        with self._lock:
            return [
                (user_id, copy.deepcopy(person["traits"]))
                for user_id, person in self._people.items()
                if not person["suppressed"]
                and isinstance(person["traits"].get("email"), str)
                and person["traits"]["email"].casefold() == wanted
            ]
