"""The shared parts of the ecommerce events (:mod:`customerio_sink.catalog.ecommerce`): the
rules every product and every list of products keeps, the rules that name what an event is
about, and the fields and rules the event models inherit (a product's fields, a cart's, a
checkout step's, a coupon's, a promotion's, a wishlist's, a share's, an order's amounts).
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from customerio_sink.catalog.base import CatalogEvent, Family, Item
from customerio_sink.catalog.constraints import (
    Each,
    Required,
    Rule,
    SumOfItems,
    at_least_one,
    currency,
    non_negative,
    url,
)

PRODUCT_RULES: tuple[Rule, ...] = (
    non_negative("price"),
    at_least_one("quantity"),
    url("url"),
    url("image_url"),
)
ITEMS_RULES: tuple[Rule, ...] = tuple(Each("products", rule) for rule in PRODUCT_RULES)
NAMES_A_PRODUCT = Required("product_id|sku")
NAMES_AN_ORDER = Required("order_id")
NAMES_A_COUPON = Required("coupon_id|coupon_name")


class _ProductFields(Item):
    product_id: str | None = None
    sku: str | None = None
    category: str | None = None
    name: str | None = None
    brand: str | None = None
    variant: str | None = None
    price: Decimal | None = None
    quantity: int | None = None
    coupon: str | None = None
    position: int | None = None
    url: str | None = None
    image_url: str | None = None


class _Ecommerce(CatalogEvent):
    FAMILY: ClassVar[Family] = "ecommerce"
    CONFIRMED: ClassVar[bool] = False


class _ProductEvent(_Ecommerce, _ProductFields):
    RULES: ClassVar[tuple[Rule, ...]] = (NAMES_A_PRODUCT, *PRODUCT_RULES)


class _Promotion(_Ecommerce):
    RULES: ClassVar[tuple[Rule, ...]] = (Required("promotion_id|name"),)
    promotion_id: str | None = None
    creative: str | None = None
    name: str | None = None
    position: str | None = None


class _CartProduct(_ProductEvent):
    cart_id: str | None = None


_AMOUNTS = ("value", "revenue", "shipping", "tax", "discount", "total", "subtotal")
_REVENUE_IS_ITEMS = SumOfItems("revenue")


def _money_rules(*extra: Rule, amounts: tuple[str, ...]) -> tuple[Rule, ...]:
    """The rules of an event with an order's amounts: ``extra``, then ``amounts`` ≥ 0, the
    currency, each product's rules, and revenue ≈ Σ price x quantity."""
    return (
        *extra,
        *(non_negative(a) for a in _AMOUNTS if a in amounts),
        currency(),
        *ITEMS_RULES,
        _REVENUE_IS_ITEMS,
    )


class _CheckoutStep(_Ecommerce):
    RULES: ClassVar[tuple[Rule, ...]] = (at_least_one("step"),)
    checkout_id: str | None = None
    step: int | None = None
    shipping_method: str | None = None
    payment_method: str | None = None


class _Coupon(_Ecommerce):
    RULES: ClassVar[tuple[Rule, ...]] = (NAMES_A_COUPON,)
    order_id: str | None = None
    cart_id: str | None = None
    coupon_id: str | None = None


class _WishlistProduct(_ProductEvent):
    wishlist_id: str | None = None
    wishlist_name: str | None = None


class _Share(Item):
    share_via: str | None = None
    share_message: str | None = None
    recipient: str | None = None
