"""Ecommerce events: browsing, promotions, ordering, coupons, wishlist, sharing, reviewing.

Customer.io's ecommerce page reproduces Segment's Ecommerce V2 spec; it lists the browsing
events itself (``CONFIRMED``), the rest follow Segment's names and properties. Money is
``Decimal`` (kept digit for digit on the wire), quantities and steps are integers.

Rules (see :mod:`~customerio_sink.catalog.constraints`):

* prices and amounts ≥ 0 (``price_negative``, ``total_negative`` …); quantities and checkout
  steps ≥ 1 (``quantity_below_one``, ``step_below_one``);
* ``currency`` is an ISO 4217 code; ``url`` and ``image_url`` are absolute http(s) URLs;
* totals agree with their parts within one cent, as in Segment's own example order (revenue
  25, discount 2.5, subtotal 22.5, shipping 3, tax 2, total 27.5):
  ``revenue ≈ Σ price x quantity``, ``subtotal ≈ revenue - discount``,
  ``total ≈ subtotal + shipping + tax`` (or ``revenue - discount + shipping + tax`` where the
  event has no subtotal);
* the event names what it is about: a product (``product_id`` or ``sku``), an order
  (``order_id``), a coupon, a promotion, a search query.

The fields and rules the events share are in :mod:`~customerio_sink.catalog.ecommerce_base`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from customerio_sink.catalog.base import CatalogEvent, Item
from customerio_sink.catalog.constraints import (
    Each,
    Required,
    Rule,
    SumOf,
    currency,
    non_negative,
)
from customerio_sink.catalog.ecommerce_base import (
    ITEMS_RULES,
    NAMES_A_COUPON,
    NAMES_A_PRODUCT,
    NAMES_AN_ORDER,
    _CartProduct,
    _CheckoutStep,
    _Coupon,
    _Ecommerce,
    _money_rules,
    _ProductEvent,
    _ProductFields,
    _Promotion,
    _Share,
    _WishlistProduct,
)
from customerio_sink.catalog.ecommerce_base import PRODUCT_RULES as PRODUCT_RULES

__all__ = [
    "EVENTS",
    "CartShared",
    "CartViewed",
    "CheckoutStarted",
    "CheckoutStepCompleted",
    "CheckoutStepViewed",
    "CouponApplied",
    "CouponDenied",
    "CouponEntered",
    "CouponRemoved",
    "Facet",
    "OrderCancelled",
    "OrderCompleted",
    "OrderRefunded",
    "OrderUpdated",
    "PaymentInfoEntered",
    "Product",
    "ProductAdded",
    "ProductAddedToWishlist",
    "ProductClicked",
    "ProductListFiltered",
    "ProductListViewed",
    "ProductRemoved",
    "ProductRemovedFromWishlist",
    "ProductReviewed",
    "ProductShared",
    "ProductViewed",
    "ProductsSearched",
    "PromotionClicked",
    "PromotionViewed",
    "WishlistProductAddedToCart",
]


class Product(_ProductFields):
    """The product object of ``products[]`` (the rules of ``PRODUCT_RULES`` apply to each)."""


class Facet(Item):
    """A filter or sort of a product list: ``type`` and ``value``."""

    type: str | None = None
    value: str | None = None


class _ProductList(_Ecommerce):
    list_id: str | None = None
    category: str | None = None
    products: list[Product] | None = None
    RULES: ClassVar[tuple[Rule, ...]] = ITEMS_RULES


# -- browsing ------------------------------------------------------------------------------------


class ProductsSearched(_Ecommerce):
    """A search: ``query`` (the text, or an object of search terms) is required."""

    EVENT: ClassVar[str] = "Products Searched"
    CONFIRMED: ClassVar[bool] = True
    RULES: ClassVar[tuple[Rule, ...]] = (Required("query"),)
    query: str | dict[str, Any] | None = None


class ProductListViewed(_ProductList):
    """A product list or category was viewed."""

    EVENT: ClassVar[str] = "Product List Viewed"
    CONFIRMED: ClassVar[bool] = True


class ProductListFiltered(_ProductList):
    """A product list was filtered or sorted (``filters[]``/``sorts[]`` of type and value)."""

    EVENT: ClassVar[str] = "Product List Filtered"
    CONFIRMED: ClassVar[bool] = True
    filters: list[Facet] | None = None
    sorts: list[Facet] | None = None


# -- promotions ----------------------------------------------------------------------------------


class PromotionViewed(_Promotion):
    """An internal promotion was shown (``position`` is a slot name, e.g. ``banner_slot_1``)."""

    EVENT: ClassVar[str] = "Promotion Viewed"


class PromotionClicked(_Promotion):
    """An internal promotion was clicked."""

    EVENT: ClassVar[str] = "Promotion Clicked"


# -- products and cart ---------------------------------------------------------------------------


class ProductClicked(_ProductEvent):
    """A product in a list was clicked."""

    EVENT: ClassVar[str] = "Product Clicked"


class ProductViewed(_ProductEvent):
    """A product's details were viewed; ``value`` in ``currency``."""

    EVENT: ClassVar[str] = "Product Viewed"
    RULES: ClassVar[tuple[Rule, ...]] = (
        *_ProductEvent.RULES,
        currency(),
        non_negative("value"),
    )
    currency: str | None = None
    value: Decimal | None = None


class ProductAdded(_CartProduct):
    """A product was added to the cart ``cart_id``."""

    EVENT: ClassVar[str] = "Product Added"


class ProductRemoved(_CartProduct):
    """A product was removed from the cart ``cart_id``."""

    EVENT: ClassVar[str] = "Product Removed"


class CartViewed(_Ecommerce):
    """The cart was viewed."""

    EVENT: ClassVar[str] = "Cart Viewed"
    RULES: ClassVar[tuple[Rule, ...]] = ITEMS_RULES
    cart_id: str | None = None
    products: list[Product] | None = None


# -- checkout and orders -------------------------------------------------------------------------


class _Money(_Ecommerce):
    order_id: str | None = None
    affiliation: str | None = None
    revenue: Decimal | None = None
    shipping: Decimal | None = None
    tax: Decimal | None = None
    discount: Decimal | None = None
    coupon: str | None = None
    currency: str | None = None
    products: list[Product] | None = None


class CheckoutStarted(_Money):
    """The checkout began: the order's amounts and products."""

    EVENT: ClassVar[str] = "Checkout Started"
    RULES: ClassVar[tuple[Rule, ...]] = _money_rules(
        amounts=("value", "revenue", "shipping", "tax", "discount")
    )
    value: Decimal | None = None


class CheckoutStepViewed(_CheckoutStep):
    """A checkout step (1, 2, …) was viewed."""

    EVENT: ClassVar[str] = "Checkout Step Viewed"


class CheckoutStepCompleted(_CheckoutStep):
    """A checkout step was completed."""

    EVENT: ClassVar[str] = "Checkout Step Completed"


class PaymentInfoEntered(_CheckoutStep):
    """Payment information was entered at a checkout step."""

    EVENT: ClassVar[str] = "Payment Info Entered"
    order_id: str | None = None


class _OrderChange(_Money):
    RULES: ClassVar[tuple[Rule, ...]] = _money_rules(
        NAMES_AN_ORDER,
        SumOf("total", plus=("revenue", "shipping", "tax"), minus=("discount",), when=("revenue",)),
        amounts=("total", "revenue", "shipping", "tax", "discount"),
    )
    total: Decimal | None = None


class OrderUpdated(_OrderChange):
    """An order changed after it was completed."""

    EVENT: ClassVar[str] = "Order Updated"


class OrderCancelled(_OrderChange):
    """An order was cancelled."""

    EVENT: ClassVar[str] = "Order Cancelled"


class _OrderTotals(_Money):
    RULES: ClassVar[tuple[Rule, ...]] = _money_rules(
        NAMES_AN_ORDER,
        SumOf("total", plus=("subtotal", "shipping", "tax"), when=("subtotal",)),
        SumOf("subtotal", plus=("revenue",), minus=("discount",), when=("revenue",)),
        amounts=("total", "subtotal", "revenue", "shipping", "tax", "discount"),
    )
    checkout_id: str | None = None
    subtotal: Decimal | None = None
    total: Decimal | None = None


class OrderCompleted(_OrderTotals):
    """An order was completed: subtotal, total, revenue, shipping, tax, discount, products."""

    EVENT: ClassVar[str] = "Order Completed"


class OrderRefunded(_OrderTotals):
    """An order was refunded (Segment: send the Order Completed properties again)."""

    EVENT: ClassVar[str] = "Order Refunded"


# -- coupons -------------------------------------------------------------------------------------


class CouponEntered(_Coupon):
    """A coupon code was entered (``coupon_id``)."""

    EVENT: ClassVar[str] = "Coupon Entered"
    RULES: ClassVar[tuple[Rule, ...]] = (Required("coupon_id"),)


class CouponApplied(_Coupon):
    """A coupon was applied: ``discount`` ≥ 0."""

    EVENT: ClassVar[str] = "Coupon Applied"
    RULES: ClassVar[tuple[Rule, ...]] = (NAMES_A_COUPON, non_negative("discount"))
    coupon_name: str | None = None
    discount: Decimal | None = None


class CouponDenied(_Coupon):
    """A coupon was refused, for ``reason``."""

    EVENT: ClassVar[str] = "Coupon Denied"
    coupon_name: str | None = None
    reason: str | None = None


class CouponRemoved(_Coupon):
    """A coupon was removed."""

    EVENT: ClassVar[str] = "Coupon Removed"
    RULES: ClassVar[tuple[Rule, ...]] = (NAMES_A_COUPON, non_negative("discount"))
    coupon_name: str | None = None
    discount: Decimal | None = None


# -- wishlist, sharing, reviewing ----------------------------------------------------------------


class ProductAddedToWishlist(_WishlistProduct):
    """A product was added to a wishlist."""

    EVENT: ClassVar[str] = "Product Added to Wishlist"


class ProductRemovedFromWishlist(_WishlistProduct):
    """A product was removed from a wishlist."""

    EVENT: ClassVar[str] = "Product Removed from Wishlist"


class WishlistProductAddedToCart(_WishlistProduct):
    """A wishlist product was moved to the cart ``cart_id``."""

    EVENT: ClassVar[str] = "Wishlist Product Added to Cart"
    cart_id: str | None = None


class ProductShared(_ProductEvent, _Share):
    """A product was shared (``share_via`` a channel, to ``recipient``)."""

    EVENT: ClassVar[str] = "Product Shared"


class CartShared(_Ecommerce, _Share):
    """A cart was shared; ``products[]`` carry at least their ``product_id``."""

    EVENT: ClassVar[str] = "Cart Shared"
    RULES: ClassVar[tuple[Rule, ...]] = (Each("products", NAMES_A_PRODUCT), *ITEMS_RULES)
    cart_id: str | None = None
    products: list[Product] | None = None


class ProductReviewed(_Ecommerce):
    """A product was reviewed: ``product_id`` is required, ``rating`` ≥ 0."""

    EVENT: ClassVar[str] = "Product Reviewed"
    RULES: ClassVar[tuple[Rule, ...]] = (Required("product_id"), non_negative("rating"))
    product_id: str | None = None
    review_id: str | None = None
    review_body: str | None = None
    rating: Decimal | None = None


EVENTS: tuple[type[CatalogEvent], ...] = (
    ProductsSearched,
    ProductListViewed,
    ProductListFiltered,
    PromotionViewed,
    PromotionClicked,
    ProductClicked,
    ProductViewed,
    ProductAdded,
    ProductRemoved,
    CartViewed,
    CheckoutStarted,
    CheckoutStepViewed,
    CheckoutStepCompleted,
    PaymentInfoEntered,
    OrderUpdated,
    OrderCompleted,
    OrderRefunded,
    OrderCancelled,
    CouponEntered,
    CouponApplied,
    CouponDenied,
    CouponRemoved,
    ProductAddedToWishlist,
    ProductRemovedFromWishlist,
    WishlistProductAddedToCart,
    ProductShared,
    CartShared,
    ProductReviewed,
)
