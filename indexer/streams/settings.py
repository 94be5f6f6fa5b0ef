"""Which text streams an index run reads, their settings, and how the choice enters a video's content hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

STREAM_NAMES = ("subtitles", "ocr", "asr")
DEFAULT_STREAMS = ("subtitles",)
ASR_NEEDS_MODEL = "the asr stream needs a speech model: --asr whisper:DIR (a Whisper folder) or whisper:ID"


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
class AsrSettings:
    """Speech: the local Whisper folder (a hub id's cached snapshot, or the user's folder), the SHA-256 of the
    files its loading reads (`indexer.streams.asr.whisper_digest`), and the most tokens one 30 s window may
    generate (224, OpenAI Whisper's own cap: half the decoder's 448 positions).

    The fingerprint holds the digest, not the path: the same weights moved elsewhere read the same words.
    """

    folder: Path
    digest: str
    max_new_tokens: int = 224

    def fingerprint(self) -> str:
        """What of these settings changes the lines heard (and so a video's content hash)."""
        return f"whisper@{self.digest[:16]}/{self.max_new_tokens}"


@dataclass(frozen=True)
class StreamSettings:
    """The streams to read (names from STREAM_NAMES), the subtitle languages preferred, OCR settings, and
    the speech model (needed when "asr" is read)."""

    streams: tuple[str, ...] = DEFAULT_STREAMS
    languages: tuple[str, ...] = ()
    ocr_settings: OcrSettings = field(default_factory=OcrSettings)
    asr_settings: AsrSettings | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.streams if name not in STREAM_NAMES]
        if unknown:
            raise StreamSettingsError(f"unknown stream {unknown[0]!r}: choose from {', '.join(STREAM_NAMES)}")
        if "asr" in self.streams and self.asr_settings is None:
            raise StreamSettingsError(ASR_NEEDS_MODEL)

    @property
    def subtitles(self) -> bool:
        return "subtitles" in self.streams

    @property
    def ocr(self) -> OcrSettings | None:
        """The OCR settings where on-screen text is read, else None."""
        return self.ocr_settings if "ocr" in self.streams else None

    @property
    def asr(self) -> AsrSettings | None:
        """The speech settings where speech is transcribed, else None."""
        return self.asr_settings if "asr" in self.streams else None

    def salt(self, track: str | None) -> str:
        """The part of a video's content hash that these settings (and its chosen embedded ``track``) add.

        Empty for the default streams on a video without an embedded track, so older indexes stay valid.
        """
        parts = [] if self.subtitles else ["subtitles=off"]
        if track is not None:
            parts.append(f"track={track}")
        if self.ocr is not None:
            parts.append(f"ocr={self.ocr.fingerprint()}")
        if self.asr is not None:
            parts.append(f"asr={self.asr.fingerprint()}")
        return ";".join(parts)


def parse_streams(value: str) -> tuple[str, ...]:
    """A comma-separated list ("subtitles,ocr") as names in STREAM_NAMES order; unknown names are an error."""
    names = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(names - set(STREAM_NAMES))
    if unknown:
        raise StreamSettingsError(f"unknown stream {unknown[0]!r}: choose from {', '.join(STREAM_NAMES)}")
    return tuple(name for name in STREAM_NAMES if name in names)


def parse_asr(value: str | None, streams: tuple[str, ...]) -> str | None:
    """The Whisper folder or hub id of ``--asr whisper:<dir-or-hub-id>``; an error where the value is not of
    that form, or where it and the stream list disagree (asr read without a model, a model without asr)."""
    if value is None:
        if "asr" in streams:
            raise StreamSettingsError(ASR_NEEDS_MODEL)
        return None
    kind, _, source = value.partition(":")
    if kind != "whisper" or not source.strip():
        raise StreamSettingsError(
            f"unknown speech model {value!r}: use whisper:DIR or whisper:HUB_ID (whisper:openai/whisper-tiny)"
        )
    if "asr" not in streams:
        raise StreamSettingsError(f"--asr {value} is given but the asr stream is not read (see --streams)")
    return source.strip()
