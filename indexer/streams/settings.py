"""Which text streams an index run reads, and how the choice enters a video's content hash."""

from __future__ import annotations

from dataclasses import dataclass, field

STREAM_NAMES = ("subtitles", "ocr")
DEFAULT_STREAMS = ("subtitles",)


class StreamSettingsError(ValueError):
    """A stream list or stream setting that cannot be used."""


@dataclass(frozen=True)
class OcrSettings:
    """On-screen text: sampling rate, largest frame width read, re-read trigger, confidence floor.

    ``max_width``: on 1280x720 slides with 36 px text, reading at 1280 wide got every line exactly, at 960
    all but two (a space between two words lost), at 640 all but five, for 1.4x and 2.4x less OCR time.

    ``trigger`` is the mean absolute difference (0-255 grey levels) between a 64-pixel-wide grey thumbnail
    of a sample and that of the last sample read; below it the picture counts as unchanged and is not read
    again. Measured (``benchmarks/ocr_speed.py``): a line of 36 px text coming or going on a 1280x720 slide
    moves it by 0.77-1.72, the same slide with a pointer moving by 0.16-0.26 (0.7-0.8 at 640x360); 0.5 found
    every line, reading 36 of 120 samples.
    """

    fps: float = 1.0
    max_width: int = 1280
    trigger: float = 0.5
    min_confidence: float = 0.8

    def fingerprint(self) -> str:
        """What of these settings changes the lines read (and so a video's content hash)."""
        return f"{self.fps:g}/{self.max_width}/{self.trigger:g}/{self.min_confidence:g}"


@dataclass(frozen=True)
class StreamSettings:
    """The streams to read (names from STREAM_NAMES), the subtitle languages preferred, OCR settings."""

    streams: tuple[str, ...] = DEFAULT_STREAMS
    languages: tuple[str, ...] = ()
    ocr_settings: OcrSettings = field(default_factory=OcrSettings)

    def __post_init__(self) -> None:
        unknown = [name for name in self.streams if name not in STREAM_NAMES]
        if unknown:
            raise StreamSettingsError(f"unknown stream {unknown[0]!r}: choose from {', '.join(STREAM_NAMES)}")

    @property
    def subtitles(self) -> bool:
        return "subtitles" in self.streams

    @property
    def ocr(self) -> OcrSettings | None:
        """The OCR settings where on-screen text is read, else None."""
        return self.ocr_settings if "ocr" in self.streams else None

    def salt(self, track: str | None) -> str:
        """The part of a video's content hash that these settings (and its chosen embedded ``track``) add.

        Empty for the default streams on a video without an embedded track, so older indexes stay valid.
        """
        parts = [] if self.subtitles else ["subtitles=off"]
        if track is not None:
            parts.append(f"track={track}")
        if self.ocr is not None:
            parts.append(f"ocr={self.ocr.fingerprint()}")
        return ";".join(parts)


def parse_streams(value: str) -> tuple[str, ...]:
    """A comma-separated list ("subtitles,ocr") as names in STREAM_NAMES order; unknown names are an error."""
    names = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(names - set(STREAM_NAMES))
    if unknown:
        raise StreamSettingsError(f"unknown stream {unknown[0]!r}: choose from {', '.join(STREAM_NAMES)}")
    return tuple(name for name in STREAM_NAMES if name in names)
