"""Timed text streams of a video besides a sidecar file: embedded subtitle tracks, on-screen text (OCR) and
speech (ASR).

Each stream yields the same ``indexer.subtitles.Cue`` lines as a sidecar does, so clips get their text the
same way whatever the stream. `StreamSettings` says which streams an index run reads.
"""

from indexer.streams.languages import LanguageError, parse_languages, user_languages
from indexer.streams.settings import (
    DEFAULT_STREAMS,
    STREAM_NAMES,
    AsrSettings,
    OcrSettings,
    StreamSettings,
    StreamSettingsError,
    parse_asr,
    parse_streams,
)

__all__ = [
    "DEFAULT_STREAMS",
    "STREAM_NAMES",
    "AsrSettings",
    "LanguageError",
    "OcrSettings",
    "StreamSettings",
    "StreamSettingsError",
    "parse_asr",
    "parse_languages",
    "parse_streams",
    "user_languages",
]
