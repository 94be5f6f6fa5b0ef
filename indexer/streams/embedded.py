"""Embedded subtitle tracks: text subtitle streams inside the container, read with PyAV into cues.

Text codecs only (``mov_text`` in MP4; SubRip, ASS/SSA and WebVTT in Matroska and WebM); picture-based
tracks (DVD, PGS, DVB) are not read. Which track is used when several exist: the first whose language tag
matches the user's languages, tried in the user's order, else the first text track. A sidecar file beside
the video wins over any embedded track (`subtitle_source`). Times are seconds from the video's first
frame, as frames are. A track whose text cannot be decoded or whose cues have broken timestamps raises
``SubtitleError`` naming the file and the track.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from indexer.decoders import MediaError, check_file, open_container
from indexer.streams.languages import language_key
from indexer.subtitles import Cue, SubtitleError, clean_text

TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})
OPEN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SubtitleTrack:
    """One text subtitle stream of a container: its stream index, language tag (None when untagged), codec."""

    index: int
    language: str | None
    codec: str

    def describe(self) -> str:
        """How error messages name the track: "subtitle track 2 (fre, subrip)"."""
        return f"subtitle track {self.index} ({self.language or 'no language tag'}, {self.codec})"

    def key(self) -> str:
        """What identifies the choice in a content hash."""
        return f"{self.index}:{self.language or ''}:{self.codec}"


def subtitle_tracks(path: Path, open_timeout_s: float = OPEN_TIMEOUT_S) -> list[SubtitleTrack]:
    """The text subtitle tracks of a video file, in stream order."""
    check_file(path)
    with open_container(path, open_timeout_s) as container:
        return [
            SubtitleTrack(stream.index, stream.metadata.get("language") or None, stream.codec_context.name)
            for stream in container.streams.subtitles
            if stream.codec_context.name in TEXT_CODECS
        ]


def choose_track(tracks: list[SubtitleTrack], languages: tuple[str, ...]) -> SubtitleTrack | None:
    """The track of the first language of ``languages`` (ISO 639-3) that has one, else the first track."""
    keys = [language_key(track.language) for track in tracks]
    for language in languages:
        if language in keys:
            return tracks[keys.index(language)]
    return tracks[0] if tracks else None


def subtitle_source(
    video: Path, sidecar: Path | None, languages: tuple[str, ...]
) -> Path | SubtitleTrack | None:
    """The subtitles to read for a video: its sidecar where it has one (a sidecar wins over embedded tracks),
    else the embedded track `choose_track` picks; None when it has neither or cannot be opened (the decoder
    then reports the file)."""
    if sidecar is not None:
        return sidecar
    try:
        return choose_track(subtitle_tracks(video), languages)
    except MediaError:
        return None


def read_track(path: Path, track: SubtitleTrack, open_timeout_s: float = OPEN_TIMEOUT_S) -> list[Cue]:
    """The cues of one embedded track, sorted by start time (track order among equal starts)."""
    check_file(path)
    where = f"{path}: {track.describe()}"
    with open_container(path, open_timeout_s) as container:
        streams = [s for s in container.streams.subtitles if s.index == track.index]
        if not streams:
            raise SubtitleError(f"{where}: the file has no such subtitle stream")
        origin = video_origin(container)
        cues = []
        try:
            packets = [p for p in container.demux(streams[0]) if p.size > 0]
        except av.FFmpegError as exc:
            raise SubtitleError(f"{where}: cannot be read ({exc})") from None
        for number, packet in enumerate(packets, start=1):
            cue = _cue(streams[0], packet, origin, f"{where}: cue {number}")
            if cue is not None and cue.text:
                cues.append(cue)
    return sorted(cues, key=lambda cue: cue.start)


def video_origin(container: Any) -> float:
    """The first video frame's time in seconds (0 without a video stream): cue times count from it."""
    for stream in container.streams.video:
        if stream.start_time is not None and stream.time_base:
            return float(stream.start_time * stream.time_base)
    return 0.0


def _cue(stream: Any, packet: Any, origin: float, label: str) -> Cue | None:
    """One packet as a cue (None for an empty one, such as mov_text's gaps between cues)."""
    if packet.pts is None or packet.time_base is None:
        raise SubtitleError(f"{label} has no timestamp")
    start = float(packet.pts * packet.time_base) - origin
    if not packet.duration or packet.duration < 0:
        raise SubtitleError(f"{label} at {start:.3f} s has no duration (a broken timestamp)")
    try:
        rects = stream.decode(packet)
    except av.InvalidDataError:  # what FFmpeg's text decoders say of text that is not UTF-8
        raise SubtitleError(f"{label} at {start:.3f} s is not valid UTF-8 text") from None
    except av.FFmpegError as exc:
        raise SubtitleError(f"{label} at {start:.3f} s cannot be decoded ({exc})") from None
    try:
        text = " ".join((rect.dialogue or rect.text).decode("utf-8") for rect in rects)
    except UnicodeDecodeError:
        raise SubtitleError(f"{label} at {start:.3f} s is not valid UTF-8 text") from None
    if not text.strip():
        return None
    return Cue(start, start + float(packet.duration * packet.time_base), clean_text(text))
