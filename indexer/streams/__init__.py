"""Timed text streams of a video besides a sidecar file: embedded subtitle tracks and on-screen text (OCR).

Each stream yields the same ``indexer.subtitles.Cue`` lines as a sidecar does, so clips get their text the
same way whatever the stream. `StreamSettings` says which streams an index run reads.
"""

from indexer.streams.languages import LanguageError, parse_languages, user_languages
from indexer.streams.settings import (
    DEFAULT_STREAMS,
    STREAM_NAMES,
    OcrSettings,
    StreamSettings,
    StreamSettingsError,
    parse_streams,
)

__all__ = [
    "DEFAULT_STREAMS",
    "STREAM_NAMES",
    "LanguageError",
    "OcrSettings",
    "StreamSettings",
    "StreamSettingsError",
    "parse_languages",
    "parse_streams",
    "user_languages",
]
