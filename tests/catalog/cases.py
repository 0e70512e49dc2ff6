"""Rows for every catalogue event: one full valid row each (every rule-bearing field filled, so
every rule is exercised), a minimal valid row derived from it, and one invalid row per rule
derived by breaking exactly that rule (see :func:`break_rule`).

Events are named here in double quotes; the coverage table finds its tests by those names.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from customerio_sink.catalog import CATALOG, rules_for
from customerio_sink.catalog.constraints import (
    Bound,
    Each,
    InSet,
    Matches,
    NotAfter,
    Required,
    Rule,
    SumOf,
    SumOfItems,
)

PERSON = {"user_id": "u-1"}

PRODUCT_1 = {
    "product_id": "507f1f77bcf86cd799439011",
    "sku": "45790-32",
    "category": "Games",
    "name": "Monopoly: 3rd Edition",
    "brand": "Hasbro",
    "variant": "200 pieces",
    "price": Decimal("19.00"),
    "quantity": 1,
    "coupon": "MAYDEALS",
    "position": 3,
    "url": "https://www.example.com/product/path",
    "image_url": "https://www.example.com/product/path.jpg",
}
PRODUCT_2 = {
    "product_id": "505bd76785ebb509fc183733",
    "sku": "46493-32",
    "name": "Uno Card Game",
    "price": Decimal("3.00"),
    "quantity": 2,
    "url": "https://www.example.com/product/uno",
    "image_url": "https://www.example.com/product/uno.jpg",
}
PRODUCTS = [PRODUCT_1, PRODUCT_2]
# Segment's own example order: 19 + 2 x 3 = 25 revenue; 25 - 2.5 = 22.5; 22.5 + 3 + 2 = 27.5.
AMOUNTS = {
    "revenue": Decimal("25.00"),
    "shipping": Decimal("3.00"),
    "tax": Decimal("2.00"),
    "discount": Decimal("2.50"),
    "currency": "USD",
}
ORDER = {
    "order_id": "50314b8e9bcf000000000000",
    "affiliation": "Google Store",
    "coupon": "hasbros",
    **AMOUNTS,
    "products": PRODUCTS,
}
EMAIL = {
    "email_id": "18vzF7u6x2",
    "email_subject": "Welcome aboard",
    "campaign_id": "123",
    "campaign_name": "Onboarding",
    "email": "cool.person@example.com",
    "ip": "8.8.8.8",
    "user_agent": "Mozilla/5.0",
}
CHAT = {
    "conversation_id": "ch_1",
    "agent_id": "a_1",
    "agent_name": "Ana",
    "agent_username": "ana",
    "conversation_duration": Decimal("92.5"),
}
PLAYBACK = {
    "session_id": "12345",
    "content_asset_id": "0129370",
    "content_pod_id": "segA",
    "ad_asset_id": "ad123",
    "ad_pod_id": "adSegA",
    "ad_type": "mid-roll",
    "position": 23,
    "total_length": 392,
    "bitrate": 100.0,
    "framerate": 29.97,
    "video_player": "youtube",
    "sound": 55,
    "full_screen": False,
    "ad_enabled": False,
    "quality": "hd1080",
    "livestream": False,
}
CONTENT = {
    "session_id": "12345",
    "asset_id": "0129370",
    "pod_id": "segA",
    "title": "Interview with Tony Robbins",
    "keywords": ["entrepreneurship", "motivation"],
    "season": "2",
    "episode": "177",
    "genre": "entrepreneurship",
    "program": "Tech Talk",
    "publisher": "Tech Talk Inc",
    "position": 163,
    "total_length": 3600,
    "channel": "Tech Talk Network",
    "full_episode": True,
    "livestream": False,
    "airdate": "1991-08-13",
    "bitrate": 100.0,
    "framerate": 29.97,
}
AD = {
    "session_id": "12345",
    "asset_id": "1231312",
    "pod_id": "43434234534",
    "pod_position": 1,
    "pod_length": 2,
    "type": "mid-roll",
    "title": "Thor: Ragnarok Trailer",
    "publisher": "Marvel",
    "position": 10,
    "total_length": 30,
    "load_type": "dynamic",
    "quartile": 1,
}
PRODUCT_EVENT = {**PRODUCT_1, "cart_id": "skdjsidjsdkdj29j"}
WISHLIST = {**PRODUCT_1, "wishlist_id": "skdjsidjsdkdj29j", "wishlist_name": "Loved Games"}
SHARE = {"share_via": "email", "share_message": "Hey, check out this item", "recipient": "a@b.co"}
STEP = {"checkout_id": "50314b8e", "step": 2, "shipping_method": "Fedex", "payment_method": "Visa"}
COUPON = {"order_id": "50314b8e", "cart_id": "923c", "coupon_id": "may_deals_2016"}

FULL: dict[str, dict[str, Any]] = {
    "Experiment Viewed": {
        "experiment_id": "82",
        "experiment_name": "Home Page Redesign",
        "variation_id": "2",
        "variation_name": "Variation B",
    },
    "Products Searched": {"query": "blue hotpants"},
    "Product List Viewed": {"list_id": "hot_deals_1", "category": "Deals", "products": PRODUCTS},
    "Product List Filtered": {
        "list_id": "todays_deals_may_11_2016",
        "filters": [{"type": "department", "value": "beauty"}],
        "sorts": [{"type": "price", "value": "desc"}],
        "products": PRODUCTS,
    },
    "Promotion Viewed": {
        "promotion_id": "promo_1",
        "creative": "top_banner_2",
        "name": "75% store-wide shoe sale",
        "position": "home_banner_top",
    },
    "Promotion Clicked": {"promotion_id": "promo_1", "position": "home_banner_top"},
    "Product Clicked": dict(PRODUCT_1),
    "Product Viewed": {**PRODUCT_1, "currency": "USD", "value": Decimal("18.99")},
    "Product Added": dict(PRODUCT_EVENT),
    "Product Removed": dict(PRODUCT_EVENT),
    "Cart Viewed": {"cart_id": "d92jd29jd92jd29j92d92jd", "products": PRODUCTS},
    "Checkout Started": {**ORDER, "value": Decimal("30.00")},
    "Checkout Step Viewed": dict(STEP),
    "Checkout Step Completed": dict(STEP),
    "Payment Info Entered": {**STEP, "order_id": "50314b8e"},
    "Order Updated": {**ORDER, "total": Decimal("27.50")},
    "Order Completed": {
        **ORDER,
        "checkout_id": "fksdjfsdjfisjf9sdfjsd9f",
        "subtotal": Decimal("22.50"),
        "total": Decimal("27.50"),
    },
    "Order Refunded": {**ORDER, "subtotal": Decimal("22.50"), "total": Decimal("27.50")},
    "Order Cancelled": {**ORDER, "total": Decimal("27.50")},
    "Coupon Entered": dict(COUPON),
    "Coupon Applied": {**COUPON, "coupon_name": "May Deals 2016", "discount": Decimal("23.32")},
    "Coupon Denied": {**COUPON, "coupon_name": "May Deals 2016", "reason": "Coupon expired"},
    "Coupon Removed": {**COUPON, "coupon_name": "May Deals 2016", "discount": Decimal("23.32")},
    "Product Added to Wishlist": dict(WISHLIST),
    "Product Removed from Wishlist": dict(WISHLIST),
    "Wishlist Product Added to Cart": {**WISHLIST, "cart_id": "99j2d92j9dj29dj29d2d"},
    "Product Shared": {**PRODUCT_1, **SHARE},
    "Cart Shared": {**SHARE, "cart_id": "d92jd29jd92jd29j92d92jd", "products": PRODUCTS},
    "Product Reviewed": {
        "product_id": "507f1f77bcf86cd799439011",
        "review_id": "kdfjrj39fj39jf3",
        "review_body": "I love this product",
        "rating": Decimal("5"),
    },
    "Email Bounced": dict(EMAIL),
    "Email Delivered": dict(EMAIL),
    "Email Link Clicked": {
        **EMAIL,
        "link_id": "l-1",
        "link_url": "https://www.example.com/welcome?utm=1",
    },
    "Email Marked as Spam": dict(EMAIL),
    "Email Opened": dict(EMAIL),
    "Unsubscribed": {**EMAIL, "list_id": "newsletter", "list_name": "Newsletter"},
    "Live Chat Conversation Started": dict(CHAT),
    "Live Chat Conversation Ended": dict(CHAT),
    "Live Chat Message Sent": {**CHAT, "message_id": "msg_1"},
    "Live Chat Message Received": {**CHAT, "message_id": "msg_2"},
    "Application Installed": {"version": "1.1.3", "build": "1234"},
    "Application Opened": {
        "from_background": False,
        "url": "myapp://products/42",
        "referring_application": "GMail",
        "version": "1.1.3",
        "build": "1234",
    },
    "Application Backgrounded": {},
    "Application Foregrounded": {},
    "Application Updated": {
        "previous_version": "1.1.2",
        "previous_build": "1233",
        "version": "1.1.3",
        "build": "1234",
    },
    "Application Uninstalled": {},
    "Application Crashed": {},
    "Install Attributed": {
        "provider": "Tune/Kochava/Branch/AppsFlyer",
        "campaign": {"source": "Network/FB/AdWords", "name": "Spring Sale"},
    },
    "Push Notification Received": {"campaign": {"medium": "Push", "name": "Spring Sale"}},
    "Push Notification Tapped": {"campaign": {"medium": "Push"}, "action": "open"},
    "Push Notification Bounced": {"campaign": {"medium": "Push"}},
    "Deep Link Opened": {"provider": "Branch", "url": "app://landing"},
    "Deep Link Clicked": {"provider": "Branch", "url": "https://example.app.link/x"},
    "Video Playback Started": {
        **PLAYBACK,
        "content_asset_ids": ["0129370", "0129371"],
        "content_pod_ids": ["segA", "segB"],
    },
    "Video Playback Paused": dict(PLAYBACK),
    "Video Playback Interrupted": {**PLAYBACK, "method": "browser closed"},
    "Video Playback Buffer Started": dict(PLAYBACK),
    "Video Playback Buffer Completed": dict(PLAYBACK),
    "Video Playback Seek Started": {**PLAYBACK, "seek_position": 100},
    "Video Playback Seek Completed": dict(PLAYBACK),
    "Video Playback Resumed": dict(PLAYBACK),
    "Video Playback Completed": dict(PLAYBACK),
    "Video Playback Exited": dict(PLAYBACK),
    "Video Content Started": dict(CONTENT),
    "Video Content Playing": dict(CONTENT),
    "Video Content Completed": dict(CONTENT),
    "Video Ad Started": dict(AD),
    "Video Ad Playing": {**AD, "quartile": 2},
    "Video Ad Completed": dict(AD),
    "Video Quality Updated": {"session_id": "12345", "bitrate": 256.0, "framerate": 30.0},
}


def full_row(event: str) -> dict[str, Any]:
    """The full valid row of ``event`` (a fresh copy), with its person."""
    return {**PERSON, **copy.deepcopy(FULL[event])}


def minimal_row(event: str) -> dict[str, Any]:
    """Only what the event requires, for an anonymous person."""
    row: dict[str, Any] = {"anonymous_id": "anon-1"}
    full = FULL[event]
    for rule in rules_for(event):
        if isinstance(rule, Required):
            first = next(f for f in rule.field.split("|") if f in full or f == "anonymous_id")
            row.setdefault(first, full.get(first, "anon-1"))
    return row


def valid_rows(event: str) -> list[dict[str, Any]]:
    return [full_row(event), minimal_row(event)]


def _broken_value(rule: Rule, row: dict[str, Any]) -> None:
    """Change ``row`` so that ``rule`` (not an Each) fails."""
    if isinstance(rule, Required):
        for field in rule.field.split("|"):
            row[field] = None
    elif isinstance(rule, Bound):
        sample = row.get(rule.field, 0)
        bad = rule.low - 1 if rule.low is not None else (rule.high or 0) + 1
        row[rule.field] = type(sample)(bad)
    elif isinstance(rule, InSet):
        ints = all(isinstance(v, int) for v in rule.values)
        row[rule.field] = max(rule.values) + 1 if ints else "usd-ish"
    elif isinstance(rule, Matches):
        row[rule.field] = "not an address"
    elif isinstance(rule, NotAfter):
        row[rule.field] = row[rule.limit] + 1
    elif isinstance(rule, SumOf | SumOfItems):
        row[rule.field] = row[rule.field] + Decimal("1.00")
    else:
        raise AssertionError(f"no way to break {rule!r}")


def break_rule(event: str, rule: Rule) -> dict[str, Any]:
    """The full row of ``event`` with exactly ``rule`` broken (other rules may follow)."""
    row = full_row(event)
    if isinstance(rule, Each):
        row[rule.field][0] = dict(row[rule.field][0])
        _broken_value(rule.rule, row[rule.field][0])
    else:
        _broken_value(rule, row)
    return row


def invalid_rows(event: str) -> list[tuple[dict[str, Any], str]]:
    """``(row, name of a constraint it breaks)`` for every rule of ``event``."""
    return [(break_rule(event, rule), rule.name) for rule in rules_for(event)]


# Values of the wrong type, which only the models see (a typed table cannot hold them).
WRONG_TYPES: list[tuple[str, dict[str, Any], str, str]] = [
    ("Order Completed", {"total": "lots"}, "total", "type_number"),
    ("Product Added", {"quantity": 1.5}, "quantity", "type_integer"),
    ("Cart Viewed", {"products": [{"price": "free"}]}, "products[0].price", "type_number"),
    ("Cart Viewed", {"products": "all"}, "products", "type_array"),
    ("Experiment Viewed", {"experiment_id": 82}, "experiment_id", "type_string"),
    ("Email Opened", {"email_id": ["a"]}, "email_id", "type_string"),
    (
        "Live Chat Conversation Ended",
        {"conversation_duration": "long"},
        "conversation_duration",
        "type_number",
    ),
    ("Application Opened", {"from_background": "maybe"}, "from_background", "type_boolean"),
    ("Video Content Playing", {"position": "middle"}, "position", "type_integer"),
]

assert set(FULL) == set(CATALOG), set(FULL) ^ set(CATALOG)
