"""Subtitle sidecars (.srt, .vtt): find them, parse them, and give each clip the text it overlaps.

Parsing uses the ``srt`` and ``webvtt-py`` libraries. Text is read as UTF-8 (a UTF-8 or UTF-16 byte-order
mark is honoured); line endings are normalised; markup (``<i>``, ``<font ...>``, ``{\\an8}``) is stripped,
HTML entities are unescaped and whitespace is collapsed. Cues left empty are dropped; overlapping cues are
kept. A file that cannot be decoded or has a broken timestamp raises ``SubtitleError`` naming file and cue.
"""

from __future__ import annotations

import codecs
import html
import math
import re
from collections.abc import Sequence
from pathlib import Path

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from indexer.cues import Cue
from indexer.decoders import MediaError, MediaNotFoundError
from indexer.streams.languages import language_key

SIDECAR_SUFFIXES = (".srt", ".vtt")
_LANG_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")  # en, eng, en-US, pt_BR, zh-Hans
_MARKUP = re.compile(r"<[^>]*>|\{\\[^}]*\}")


class SubtitleError(MediaError):
    """A subtitle file cannot be decoded or parsed."""


def find_sidecar(video_path: str | Path, languages: Sequence[str] = ()) -> Path | None:
    """The subtitle file of a video: ``<stem>.srt``, ``<stem>.vtt``, then ``<stem>.<lang>.srt`` / ``.vtt``.

    ``<lang>`` is a language tag such as "en", "eng", "pt-BR" (so ``show.ep10.srt`` is not taken for
    ``show.mp4``). Among several tagged files one in the first of ``languages`` (ISO 639-3 codes, the user's
    preference) that has one wins, else an English one, else the first by name (.srt before .vtt). Without an
    untagged sidecar this lists the video's folder: for many videos, use `find_sidecars`.
    """
    video = Path(video_path)
    for suffix in SIDECAR_SUFFIXES:
        if (candidate := video.with_suffix(suffix)).is_file():
            return candidate
    return Sidecars(video.parent).find(video, languages)


def find_sidecars(videos: Sequence[Path], languages: Sequence[str] = ()) -> list[Path | None]:
    """`find_sidecar` of many videos, listing each folder once (once per video is quadratic in the folder)."""
    folders: dict[Path, Sidecars] = {}
    found = []
    for video in videos:
        if video.parent not in folders:
            folders[video.parent] = Sidecars(video.parent)
        found.append(folders[video.parent].find(video, languages))
    return found


class Sidecars:
    """The subtitle files of one folder, listed once; `find(video)` answers as `find_sidecar` does."""

    def __init__(self, folder: Path) -> None:
        self._exact: set[str] = set()
        self._tagged: dict[tuple[str, str], list[tuple[str, Path]]] = {}  # (stem, suffix) -> [(tag, path)]
        try:
            entries = list(folder.iterdir())
        except OSError:
            entries = []
        for path in entries:
            suffix = next((x for x in SIDECAR_SUFFIXES if path.name.endswith(x)), None)
            if suffix is None or not path.is_file():
                continue
            self._exact.add(path.name)
            stem, dot, tag = path.name[: -len(suffix)].rpartition(".")
            if dot and _LANG_TAG.fullmatch(tag):
                self._tagged.setdefault((stem, suffix), []).append((tag, path))

    def find(self, video: Path, languages: Sequence[str] = ()) -> Path | None:
        for suffix in SIDECAR_SUFFIXES:
            if video.stem + suffix in self._exact:
                return video.with_suffix(suffix)
        candidates = [
            found
            for suffix in SIDECAR_SUFFIXES
            for found in sorted(self._tagged.get((video.stem, suffix), []), key=lambda t: t[1].name)
        ]
        keys = [language_key(tag) for tag, _ in candidates]
        for language in languages:
            if language in keys:
                return candidates[keys.index(language)][1]
        for suffix in SIDECAR_SUFFIXES:
            if tagged := self._tagged.get((video.stem, suffix)):
                return min(tagged, key=lambda t: (not t[0].lower().startswith("en"), t[1].name))[1]
        return None


def read_subtitles(path: str | Path) -> list[Cue]:
    """Parse an .srt or .vtt file into cues sorted by start time (file order among equal starts)."""
    path = Path(path)
    if not path.is_file():
        raise MediaNotFoundError(f"{path}: no such subtitle file")
    suffix = path.suffix.lower()
    if suffix not in SIDECAR_SUFFIXES:
        raise SubtitleError(f"{path}: unsupported subtitle format {suffix!r} (use .srt or .vtt)")
    text = _decode(path.read_bytes(), path)
    cues = _parse_srt(text, path) if suffix == ".srt" else _parse_vtt(text, path)
    return sorted((cue for cue in cues if cue.text), key=lambda cue: cue.start)


def _decode(data: bytes, path: Path) -> str:
    """Bytes to text with LF line endings: UTF-8, or UTF-8/UTF-16 with a byte-order mark."""
    try:
        if data.startswith(codecs.BOM_UTF8):
            text = data[len(codecs.BOM_UTF8) :].decode("utf-8")
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubtitleError(
            f"{path}: not valid UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_text(text: str) -> str:
    """Plain text of a cue: markup stripped, entities unescaped, whitespace collapsed."""
    return " ".join(html.unescape(_MARKUP.sub("", text)).split())


def _cue(path: Path, label: str, start: float, end: float, text: str) -> Cue:
    """A checked cue; a cue that ends before it starts is a broken timestamp."""
    if end < start:
        raise SubtitleError(f"{path}: {label} ends before it starts ({start:.3f} s > {end:.3f} s)")
    return Cue(start, end, clean_text(text))


def _parse_srt(text: str, path: Path) -> list[Cue]:
    """Cues of an SRT document."""
    try:
        subs = list(srt.parse(text))
    except srt.SRTParseError as exc:
        snippet = " ".join(exc.unmatched_content.split())[:60]
        raise SubtitleError(f"{path}: unparsable subtitle block near {snippet!r}") from None
    return [
        _cue(path, f"cue {sub.index}", sub.start.total_seconds(), sub.end.total_seconds(), sub.content)
        for sub in subs
    ]


def _parse_vtt(text: str, path: Path) -> list[Cue]:
    """Cues of a WebVTT document (strict timestamps, so a broken cue is an error, not skipped)."""
    try:
        captions = webvtt.from_string(text, strict=True).captions
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise SubtitleError(f"{path}: malformed WebVTT ({exc})") from None
    return [
        _cue(
            path,
            f"cue {n} ({caption.start})",
            caption.start_time.in_milliseconds() / 1000,
            caption.end_time.in_milliseconds() / 1000,
            caption.raw_text,
        )
        for n, caption in enumerate(captions, start=1)
    ]


def clip_texts(cues: Sequence[Cue], n_clips: int, clip_seconds: float = 1.5) -> list[str]:
    """Per clip i, the texts of the cues overlapping [i*cs, (i+1)*cs) by more than 0 s, joined by spaces.

    Texts keep cue order and each appears once per clip.
    """
    texts: list[list[str]] = [[] for _ in range(n_clips)]
    for cue in cues:
        first = max(0, math.floor(cue.start / clip_seconds) - 1)
        last = min(n_clips - 1, math.ceil(cue.end / clip_seconds))
        for i in range(first, last + 1):
            overlap = min(cue.end, (i + 1) * clip_seconds) - max(cue.start, i * clip_seconds)
            if overlap > 0 and cue.text not in texts[i]:
                texts[i].append(cue.text)
    return [" ".join(parts) for parts in texts]
