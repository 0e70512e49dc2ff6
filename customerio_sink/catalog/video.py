"""Video events: playback, content, ads and quality (Segment's video spec; Customer.io confirms
the lifecycle Playback Started → Content Started → Content Playing (a heartbeat every 10 s) →
Playback Paused/Resumed → Content Completed, the rest have ``CONFIRMED = False``).

Positions and lengths are whole seconds, ``bitrate`` (kbps) and ``framerate`` (fps) numbers,
``sound`` a level from 0 to 100. ``Video Playback Started`` may carry the plural forms
``content_asset_ids``/``content_pod_ids`` and lists of ad ids.

Rules: positions, lengths, bitrate and framerate ≥ 0; ``position`` ≤ ``total_length``;
``sound`` 0 to 100; an ad's ``pod_position`` and ``pod_length`` ≥ 1 with position ≤ length;
``ad_type``/``type`` is ``pre-roll``, ``mid-roll`` or ``post-roll``; ``load_type`` is
``linear`` or ``dynamic``; ``quartile`` is 1, 2 or 3.
"""

from __future__ import annotations

from typing import Any, ClassVar

from customerio_sink.catalog.base import CatalogEvent, Family
from customerio_sink.catalog.constraints import (
    Bound,
    NotAfter,
    Rule,
    at_least_one,
    non_negative,
    one_of,
)

__all__ = [
    "EVENTS",
    "VideoAdCompleted",
    "VideoAdPlaying",
    "VideoAdStarted",
    "VideoContentCompleted",
    "VideoContentPlaying",
    "VideoContentStarted",
    "VideoPlaybackBufferCompleted",
    "VideoPlaybackBufferStarted",
    "VideoPlaybackCompleted",
    "VideoPlaybackExited",
    "VideoPlaybackInterrupted",
    "VideoPlaybackPaused",
    "VideoPlaybackResumed",
    "VideoPlaybackSeekCompleted",
    "VideoPlaybackSeekStarted",
    "VideoPlaybackStarted",
    "VideoQualityUpdated",
]

AD_TYPES = ("pre-roll", "mid-roll", "post-roll")
_STREAM: tuple[Rule, ...] = (non_negative("bitrate"), non_negative("framerate"))
_TIMELINE: tuple[Rule, ...] = (
    non_negative("position"),
    non_negative("total_length"),
    NotAfter("position", limit="total_length", rule_code="position_beyond_length"),
)


class _Video(CatalogEvent):
    FAMILY: ClassVar[Family] = "video"
    CONFIRMED: ClassVar[bool] = False
    session_id: str | None = None


# -- playback ------------------------------------------------------------------------------------


class _Playback(_Video):
    RULES: ClassVar[tuple[Rule, ...]] = (
        *_TIMELINE,
        *_STREAM,
        Bound("sound", low=0, high=100, rule_code="sound_range"),
        one_of("ad_type", *AD_TYPES),
    )
    content_asset_id: str | None = None
    content_pod_id: str | None = None
    ad_asset_id: str | list[str] | None = None
    ad_pod_id: str | list[str] | None = None
    ad_type: str | None = None
    position: int | None = None
    total_length: int | None = None
    bitrate: float | None = None
    framerate: float | None = None
    video_player: str | None = None
    sound: int | None = None
    full_screen: bool | None = None
    ad_enabled: bool | None = None
    quality: str | None = None
    method: str | None = None
    livestream: bool | None = None


class VideoPlaybackStarted(_Playback):
    """Playback began (may list ``content_asset_ids``/``content_pod_ids``)."""

    EVENT: ClassVar[str] = "Video Playback Started"
    CONFIRMED: ClassVar[bool] = True
    content_asset_ids: list[str] | None = None
    content_pod_ids: list[str] | None = None


class VideoPlaybackPaused(_Playback):
    """Playback was paused."""

    EVENT: ClassVar[str] = "Video Playback Paused"
    CONFIRMED: ClassVar[bool] = True


class VideoPlaybackInterrupted(_Playback):
    """Playback stopped without the viewer asking (a network loss, a closed browser …)."""

    EVENT: ClassVar[str] = "Video Playback Interrupted"


class VideoPlaybackBufferStarted(_Playback):
    """The player began buffering."""

    EVENT: ClassVar[str] = "Video Playback Buffer Started"


class VideoPlaybackBufferCompleted(_Playback):
    """The player finished buffering."""

    EVENT: ClassVar[str] = "Video Playback Buffer Completed"


class VideoPlaybackSeekStarted(_Playback):
    """The viewer began seeking (``seek_position`` is where to, ≥ 0)."""

    EVENT: ClassVar[str] = "Video Playback Seek Started"
    RULES: ClassVar[tuple[Rule, ...]] = (*_Playback.RULES, non_negative("seek_position"))
    seek_position: int | None = None


class VideoPlaybackSeekCompleted(_Playback):
    """Seeking finished."""

    EVENT: ClassVar[str] = "Video Playback Seek Completed"


class VideoPlaybackResumed(_Playback):
    """Playback resumed after a pause."""

    EVENT: ClassVar[str] = "Video Playback Resumed"
    CONFIRMED: ClassVar[bool] = True


class VideoPlaybackCompleted(_Playback):
    """Playback reached the end."""

    EVENT: ClassVar[str] = "Video Playback Completed"


class VideoPlaybackExited(_Playback):
    """The viewer left the player."""

    EVENT: ClassVar[str] = "Video Playback Exited"


# -- content -------------------------------------------------------------------------------------


class _Content(_Video):
    RULES: ClassVar[tuple[Rule, ...]] = (*_TIMELINE, *_STREAM)
    asset_id: str | None = None
    pod_id: str | None = None
    title: str | None = None
    description: str | None = None
    keywords: list[str] | None = None
    season: str | None = None
    episode: str | None = None
    genre: str | None = None
    program: str | None = None
    publisher: str | None = None
    position: int | None = None
    total_length: int | None = None
    channel: str | None = None
    full_episode: bool | None = None
    livestream: bool | None = None
    airdate: str | None = None
    bitrate: float | None = None
    framerate: float | None = None


class VideoContentStarted(_Content):
    """A piece of content began playing."""

    EVENT: ClassVar[str] = "Video Content Started"
    CONFIRMED: ClassVar[bool] = True


class VideoContentPlaying(_Content):
    """Content is playing (a heartbeat, every 10 seconds)."""

    EVENT: ClassVar[str] = "Video Content Playing"
    CONFIRMED: ClassVar[bool] = True


class VideoContentCompleted(_Content):
    """A piece of content played to its end."""

    EVENT: ClassVar[str] = "Video Content Completed"
    CONFIRMED: ClassVar[bool] = True


# -- ads -----------------------------------------------------------------------------------------


class _Ad(_Video):
    RULES: ClassVar[tuple[Rule, ...]] = (
        *_TIMELINE,
        at_least_one("pod_position"),
        at_least_one("pod_length"),
        NotAfter("pod_position", limit="pod_length", rule_code="pod_position_beyond_length"),
        one_of("type", *AD_TYPES),
        one_of("load_type", "linear", "dynamic"),
        one_of("quartile", 1, 2, 3),
    )
    asset_id: str | None = None
    pod_id: str | None = None
    pod_position: int | None = None
    pod_length: int | None = None
    type: str | None = None
    title: str | None = None
    publisher: str | None = None
    position: int | None = None
    total_length: int | None = None
    load_type: str | None = None
    content: dict[str, Any] | None = None
    quartile: int | None = None


class VideoAdStarted(_Ad):
    """An ad began playing."""

    EVENT: ClassVar[str] = "Video Ad Started"


class VideoAdPlaying(_Ad):
    """An ad is playing (a heartbeat; ``quartile`` marks 25/50/75 %)."""

    EVENT: ClassVar[str] = "Video Ad Playing"


class VideoAdCompleted(_Ad):
    """An ad played to its end."""

    EVENT: ClassVar[str] = "Video Ad Completed"


# -- quality -------------------------------------------------------------------------------------


class VideoQualityUpdated(_Video):
    """The stream's quality changed (``bitrate``, ``framerate``, ``quality``)."""

    EVENT: ClassVar[str] = "Video Quality Updated"
    RULES: ClassVar[tuple[Rule, ...]] = _STREAM
    bitrate: float | None = None
    framerate: float | None = None
    quality: str | None = None


EVENTS: tuple[type[CatalogEvent], ...] = (
    VideoPlaybackStarted,
    VideoPlaybackPaused,
    VideoPlaybackInterrupted,
    VideoPlaybackBufferStarted,
    VideoPlaybackBufferCompleted,
    VideoPlaybackSeekStarted,
    VideoPlaybackSeekCompleted,
    VideoPlaybackResumed,
    VideoPlaybackCompleted,
    VideoPlaybackExited,
    VideoContentStarted,
    VideoContentPlaying,
    VideoContentCompleted,
    VideoAdStarted,
    VideoAdPlaying,
    VideoAdCompleted,
    VideoQualityUpdated,
)
