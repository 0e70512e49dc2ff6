"""The workspace state accepted calls build, applied in arrival order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from customerio_sink.emulator import Emulator

if TYPE_CHECKING:
    from tests.emulator.conftest import Poster


def identify(user_id: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": user_id, "traits": traits}


def event(name: str, user_id: str | None = "u1", **fields: Any) -> dict[str, Any]:
    call = {"type": "track", "event": name, **fields}
    if user_id is not None:
        call["userId"] = user_id
    return call


def test_identify_merges_traits_in_arrival_order(post: Poster, emulator: Emulator) -> None:
    post.batch(identify("u1", email="a@example.com", plan="free"), identify("u2", plan="pro"))
    post.batch(identify("u1", plan="pro", seats=3))
    post("/v1/identify", {"userId": "u1", "traits": {"seats": 5}})
    post("/v1/identify", {"anonymousId": "anon", "traits": {"x": 1}})  # anonymous: ignored
    assert emulator.people == {
        "u1": {
            "traits": {"email": "a@example.com", "plan": "pro", "seats": 5},
            "suppressed": False,
        },
        "u2": {"traits": {"plan": "pro"}, "suppressed": False},
    }


def test_a_null_trait_removes_the_attribute(post: Poster, emulator: Emulator) -> None:
    post.batch(identify("u1", email="a@example.com", plan="pro"))
    post.batch(identify("u1", plan=None, seats=None))
    group = {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"tier": "gold"}}
    post.batch(group, {**group, "traits": {"name": "Acme", "tier": None}})
    assert emulator.people["u1"]["traits"] == {"email": "a@example.com"}
    assert emulator.objects == {("1", "acme"): {"name": "Acme"}}


def test_user_deleted_removes_the_person_with_devices_and_relationships(
    post: Poster, emulator: Emulator
) -> None:
    post.batch(
        identify("u1", email="a@example.com"),
        {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"objectTypeId": 2}},
        event("Device Created or Updated", context={"device": {"token": "t1"}}),
        event("User Deleted"),
    )
    assert emulator.people == {}
    assert emulator.devices == {}
    assert emulator.relationships == set()
    assert emulator.objects == {("2", "acme"): {}}  # the object itself stays
    # a deleted person comes back on the next identify, without the old traits
    post.batch(identify("u1", plan="pro"))
    assert emulator.people == {"u1": {"traits": {"plan": "pro"}, "suppressed": False}}


def test_suppress_and_unsuppress_flip_the_flag(post: Poster, emulator: Emulator) -> None:
    post.batch(identify("u1", plan="free"), event("User Suppressed"))
    assert emulator.people["u1"] == {"traits": {"plan": "free"}, "suppressed": True}
    post.batch(identify("u1", plan="pro"))  # a suppressed identifier cannot be updated
    assert emulator.people["u1"]["traits"] == {"plan": "free"}
    post.batch(event("User Unsuppressed"), identify("u1", plan="pro"))
    assert emulator.people["u1"] == {"traits": {"plan": "pro"}, "suppressed": False}
    # erasure = delete then suppress: the identifier stays suppressed with no traits
    post.batch(event("User Deleted"), event("User Suppressed"))
    assert emulator.people == {"u1": {"traits": {}, "suppressed": True}}


def test_objects_and_relationships(post: Poster, emulator: Emulator) -> None:
    post.batch(
        {
            "type": "group",
            "userId": "u1",
            "groupId": "acme",
            "traits": {
                "objectTypeId": 2,
                "name": "Acme",
                "relationshipAttributes": {"role": "admin"},
            },
        },
        {
            "type": "group",
            "anonymousId": "a",
            "groupId": "acme",
            "traits": {"object_type_id": "2", "plan": "enterprise"},
        },
        {"type": "group", "userId": "u2", "groupId": "acme", "traits": {"objectTypeId": "2"}},
        {"type": "group", "userId": "u1", "groupId": "beta", "traits": {"name": "Beta"}},
    )
    assert emulator.objects == {
        ("2", "acme"): {"name": "Acme", "plan": "enterprise"},
        ("1", "beta"): {"name": "Beta"},  # object type defaults to 1
    }
    assert emulator.relationships == {("u1", "2", "acme"), ("u2", "2", "acme"), ("u1", "1", "beta")}

    post.batch(event("Relationship Deleted", properties={"objectId": "acme", "objectTypeId": 2}))
    assert emulator.relationships == {("u2", "2", "acme"), ("u1", "1", "beta")}
    post.batch(
        event(
            "Object Deleted",
            user_id=None,
            anonymousId="acme",
            properties={"objectId": "acme", "objectTypeId": 2},
        )
    )
    assert emulator.objects == {("1", "beta"): {"name": "Beta"}}
    assert emulator.relationships == {("u1", "1", "beta")}
    post.batch(event("Relationship Deleted", properties={"objectId": "beta"}))
    assert emulator.relationships == set()


def test_devices(post: Poster, emulator: Emulator) -> None:
    post.batch(
        event(
            "Device Created or Updated",
            context={"device": {"token": "t1", "type": "ios"}},
            properties={"app_version": "1.0"},
        ),
        event("Device Created or Updated", context={"device": {"token": "t2", "type": "android"}}),
        event(
            "Device Created or Updated",
            context={"device": {"token": "t1"}},
            properties={"app_version": "1.1"},
        ),
    )
    assert emulator.devices == {
        "u1": {"t1": {"type": "ios", "app_version": "1.1"}, "t2": {"type": "android"}}
    }
    post.batch(event("Device Deleted", context={"device": {"token": "t1"}}))
    assert emulator.devices == {"u1": {"t2": {"type": "android"}}}
    post.batch(event("Device Deleted", context={"device": {"token": "t2"}}))
    assert emulator.devices == {}


def test_rejected_calls_do_not_touch_the_state(post: Poster, emulator: Emulator) -> None:
    post.batch(identify("u1", plan="free"), {"type": "identify", "traits": {"plan": "x"}})
    assert emulator.people == {}  # strict: the whole request was rejected
    post.batch(identify("u1", plan="free"), event("User Deleted", user_id=None), strict=False)
    assert emulator.people == {"u1": {"traits": {"plan": "free"}, "suppressed": False}}


def test_state_is_a_copy(post: Poster, emulator: Emulator) -> None:
    post.batch(identify("u1", plan="free"))
    emulator.people["u1"]["traits"]["plan"] = "changed"
    assert emulator.people["u1"]["traits"]["plan"] == "free"
