"""Resolve `kairos index SOURCE...` arguments (folders, globs, files, `.jsonl` manifests) into work items."""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.subtitles import find_sidecar, find_sidecars

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"})
_GLOB_CHARS = frozenset("*?[")
_BLOCK = 1 << 20


class SourceError(ValueError):
    """A SOURCE argument or manifest line that cannot be used; raised before any work starts."""


@dataclass(frozen=True)
class SourceItem:
    """One file to index: its path, video id, optional subtitle file and free metadata."""

    path: Path
    video_id: str
    subtitles: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """A file named explicitly that Kairos does not index, with the reason."""

    path: Path
    reason: str


@dataclass
class Resolved:
    """The items to index and the files left out on purpose."""

    items: list[SourceItem]
    skipped: list[Skipped]


def resolve_sources(sources: Sequence[str], languages: Sequence[str] = ()) -> Resolved:
    """Expand every SOURCE into items; refuse missing sources and duplicate video ids naming both files.

    ``languages`` (ISO 639-3, in order of preference) choose among sidecars tagged with a language.
    """
    items: list[SourceItem] = []
    skipped: list[Skipped] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            items.extend(_items(_videos_under(path), languages))
        elif path.suffix == ".jsonl" and path.is_file():
            found, left_out = _read_manifest(path, languages)
            items.extend(found)
            skipped.extend(left_out)
        elif path.is_file():
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                items.append(_item(path, languages))
            else:
                skipped.append(
                    Skipped(path, f"not a video file extension ({', '.join(sorted(VIDEO_EXTENSIONS))})")
                )
        elif _GLOB_CHARS & set(source):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            videos = [p for p in matches if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
            if not videos:
                raise SourceError(f"{source}: the pattern matches no video files")
            items.extend(_items(videos, languages))
        else:
            raise SourceError(f"{source}: no such file, folder or pattern")
    return Resolved(check_unique(_dedupe(items)), skipped)


def check_unique(items: list[SourceItem]) -> list[SourceItem]:
    """Return ``items`` unchanged, or raise SourceError naming both files of the first duplicate video id."""
    seen: dict[str, Path] = {}
    for item in items:
        if item.video_id in seen:
            raise SourceError(
                f"duplicate video id {item.video_id!r}: {seen[item.video_id]} and {item.path} "
                "(rename one, or give explicit video_id values in a manifest)"
            )
        seen[item.video_id] = item.path
    return items


def content_hash(path: Path, subtitles: Path | None = None, salt: str = "") -> str:
    """sha256 over the file's bytes, then the subtitle file's bytes (streamed), then ``salt``."""
    digest = hashlib.sha256()
    for part in (path, subtitles):
        digest.update(b"\x00part\x00")
        if part is not None:
            with part.open("rb") as handle:
                while block := handle.read(_BLOCK):
                    digest.update(block)
    digest.update(salt.encode())
    return digest.hexdigest()


def _videos_under(folder: Path) -> list[Path]:
    """Every file with a video extension under ``folder``, recursively, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def _item(path: Path, languages: Sequence[str]) -> SourceItem:
    return SourceItem(path=path, video_id=path.stem, subtitles=find_sidecar(path, languages))


def _items(paths: Sequence[Path], languages: Sequence[str]) -> list[SourceItem]:
    return [
        SourceItem(path=path, video_id=path.stem, subtitles=sidecar)
        for path, sidecar in zip(paths, find_sidecars(paths, languages), strict=True)
    ]


def _dedupe(items: Iterable[SourceItem]) -> list[SourceItem]:
    """Drop repeats of the same file reached through two sources (e.g. a folder and a glob inside it)."""
    out: dict[tuple[Path, str], SourceItem] = {}
    for item in items:
        out.setdefault((item.path.resolve(), item.video_id), item)
    return list(out.values())


def _read_manifest(manifest: Path, languages: Sequence[str]) -> tuple[list[SourceItem], list[Skipped]]:
    """Items of a `.jsonl` manifest: `path` (relative to the manifest), optional `video_id`, `subtitles`,
    `metadata`."""
    items: list[SourceItem] = []
    skipped: list[Skipped] = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{manifest}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{where}: not a JSON object ({exc.msg})") from exc
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise SourceError(f'{where}: each line needs a "path" string')
        metadata = entry.get("metadata", {})
        if not isinstance(metadata, dict):
            raise SourceError(f'{where}: "metadata" must be a JSON object')
        path = _relative_to(manifest, entry["path"])
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            skipped.append(Skipped(path, f"not a video file extension ({where})"))
            continue
        subtitles = (
            _relative_to(manifest, entry["subtitles"])
            if entry.get("subtitles")
            else find_sidecar(path, languages)
        )
        video_id = str(entry.get("video_id") or path.stem)
        items.append(SourceItem(path=path, video_id=video_id, subtitles=subtitles, metadata=metadata))
    return items, skipped


def _relative_to(manifest: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else manifest.parent / path
