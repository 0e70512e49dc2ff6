"""Mobile app events: the application lifecycle (listed by Customer.io, whose mobile SDKs send
all but ``Application Crashed`` on their own) and the install-attribution, push and deep-link
events of Segment's mobile spec, which Customer.io does not confirm (``CONFIRMED = False``;
Customer.io reports push metrics with ``Report Delivery Event`` instead).

Properties: ``version`` and ``build`` are strings as the app reports them; ``Application
Opened`` adds ``from_background``, ``url`` and ``referring_application``; ``Application
Updated`` adds ``previous_version`` and ``previous_build``. Rules: URLs an app is opened with
are absolute URIs of any scheme (``myapp://…`` as well as ``https://…``); a deep-link event
names its ``url``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from customerio_sink.catalog.base import CatalogEvent, Family
from customerio_sink.catalog.constraints import Required, Rule, deep_link

__all__ = [
    "EVENTS",
    "ApplicationBackgrounded",
    "ApplicationCrashed",
    "ApplicationForegrounded",
    "ApplicationInstalled",
    "ApplicationOpened",
    "ApplicationUninstalled",
    "ApplicationUpdated",
    "DeepLinkClicked",
    "DeepLinkOpened",
    "InstallAttributed",
    "PushNotificationBounced",
    "PushNotificationReceived",
    "PushNotificationTapped",
]


class _Mobile(CatalogEvent):
    FAMILY: ClassVar[Family] = "mobile"


class _Versioned(_Mobile):
    version: str | None = None
    build: str | None = None


class ApplicationInstalled(_Versioned):
    """The app was installed (first open): ``version`` and ``build``."""

    EVENT: ClassVar[str] = "Application Installed"


class ApplicationOpened(_Versioned):
    """The app was opened, perhaps from the background or by a ``url``."""

    EVENT: ClassVar[str] = "Application Opened"
    RULES: ClassVar[tuple[Rule, ...]] = (deep_link("url"),)
    from_background: bool | None = None
    url: str | None = None
    referring_application: str | None = None


class ApplicationBackgrounded(_Mobile):
    """The app went to the background."""

    EVENT: ClassVar[str] = "Application Backgrounded"


class ApplicationForegrounded(_Mobile):
    """The app came back to the foreground."""

    EVENT: ClassVar[str] = "Application Foregrounded"


class ApplicationUpdated(_Versioned):
    """The app was updated from ``previous_version``/``previous_build``."""

    EVENT: ClassVar[str] = "Application Updated"
    previous_version: str | None = None
    previous_build: str | None = None


class ApplicationUninstalled(_Mobile):
    """The app was uninstalled (reported by a server-side source)."""

    EVENT: ClassVar[str] = "Application Uninstalled"


class ApplicationCrashed(_Mobile):
    """The app crashed (sent by the app itself; the SDKs do not send it)."""

    EVENT: ClassVar[str] = "Application Crashed"


# -- Segment's mobile spec, not confirmed by Customer.io ------------------------------------------


class _SegmentMobile(_Mobile):
    CONFIRMED: ClassVar[bool] = False


class InstallAttributed(_SegmentMobile):
    """An install attributed to a ``campaign`` (source, name, content …) by a ``provider``."""

    EVENT: ClassVar[str] = "Install Attributed"
    provider: str | None = None
    campaign: dict[str, Any] | None = None


class _Push(_SegmentMobile):
    campaign: dict[str, Any] | None = None


class PushNotificationReceived(_Push):
    """A push notification arrived (``campaign`` describes it)."""

    EVENT: ClassVar[str] = "Push Notification Received"


class PushNotificationTapped(_Push):
    """A push notification was tapped."""

    EVENT: ClassVar[str] = "Push Notification Tapped"
    action: str | None = None


class PushNotificationBounced(_Push):
    """A push notification could not be delivered."""

    EVENT: ClassVar[str] = "Push Notification Bounced"


class _DeepLink(_SegmentMobile):
    RULES: ClassVar[tuple[Rule, ...]] = (Required("url"), deep_link("url"))
    provider: str | None = None
    url: str | None = None


class DeepLinkOpened(_DeepLink):
    """The app was opened by the deep link ``url``."""

    EVENT: ClassVar[str] = "Deep Link Opened"


class DeepLinkClicked(_DeepLink):
    """A deep link ``url`` was clicked."""

    EVENT: ClassVar[str] = "Deep Link Clicked"


EVENTS: tuple[type[CatalogEvent], ...] = (
    ApplicationInstalled,
    ApplicationOpened,
    ApplicationBackgrounded,
    ApplicationForegrounded,
    ApplicationUpdated,
    ApplicationUninstalled,
    ApplicationCrashed,
    InstallAttributed,
    PushNotificationReceived,
    PushNotificationTapped,
    PushNotificationBounced,
    DeepLinkOpened,
    DeepLinkClicked,
)
