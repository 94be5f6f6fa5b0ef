"""Video decoders behind one interface: PyAV always probes, decord decodes where it can.

Every file is opened with PyAV first (cheap, safe, clean errors); only a file PyAV could read and decode
a frame from is handed to decord, so bad files never reach decord (which can crash or print noise on them).
Raw av/decord exceptions never escape: they become ``MediaError`` subclasses naming the file.

Frames are selected by presentation time, relative to the first frame: for a target time t the decoder
returns the last frame whose start is <= t. When the data ends (a truncated file whose header claims more),
targets past the end of the last decoded frame are dropped, so iteration stops instead of looping.

Memory is bounded: PyAV demuxes and decodes sequentially and keeps only the frame on screen; decord
fetches the selected frame indices in chunks of at most ``CHUNK_BYTES`` of RGB pixels (and 16 frames).
Nothing holds more than one chunk of decoded frames, whatever the video's length.

Watchdog: opening (PyAV and decord) runs in a daemon worker thread with a timeout; decoding checks a
wall-clock ``Deadline`` after every frame (PyAV) or chunk (decord). Both raise ``DecodeTimeoutError``.
Each library decodes with one thread (parallelism comes from worker processes; see DESIGN.md).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import av
import numpy as np

log = logging.getLogger(__name__)

Backend = Literal["auto", "decord", "pyav"]
T = TypeVar("T")
F = TypeVar("F")
Frame = tuple[float, np.ndarray]
TimedFrame = tuple[float, float, Any]

DECODE_THREADS = 1
CHUNK_BYTES = 64 * 2**20
CHUNK_FRAMES = 16
FLOAT32_REL_TOL = 2.0**-22
_MAGIC = (b"\x1a\x45\xdf\xa3", b"RIFF", b"FLV", b"OggS", b"\x00\x00\x01\xba", b"\x30\x26\xb2\x75")
_TS_PACKET = 188
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


class MediaError(Exception):
    """A media file (video or subtitles) cannot be used; the message names the file and the problem."""


class MediaNotFoundError(MediaError):
    """The file does not exist."""


class NotAVideoError(MediaError):
    """The file is not a video: an unknown format, audio only, or no video stream."""


class CorruptMediaError(MediaError):
    """The file looks like media but is truncated, corrupt or holds no frames."""


class DecodeTimeoutError(MediaError):
    """Opening or decoding took longer than its watchdog allowed."""


class DataEndsError(CorruptMediaError):
    """The decodable data ends before the asked time (a truncated file whose header claims more)."""

    def __init__(self, message: str, data_end: float) -> None:
        super().__init__(message)
        self.data_end = data_end


@dataclass(frozen=True)
class VideoInfo:
    """What a probe finds; ``backend`` is the decoder that will decode the file ("decord" or "pyav")."""

    path: str
    duration: float
    fps: float
    frame_count: int
    width: int
    height: int
    backend: str


class Deadline:
    """A wall-clock budget for decoding one file."""

    def __init__(self, path: Path, budget_s: float) -> None:
        self.path, self.budget_s = path, budget_s
        self.expires = time.monotonic() + budget_s

    def check(self) -> None:
        """Raise ``DecodeTimeoutError`` once the budget is spent."""
        if time.monotonic() > self.expires:
            raise DecodeTimeoutError(f"{self.path}: decoding took longer than {self.budget_s:g} s (watchdog)")


def call_with_timeout(fn: Callable[[], T], timeout_s: float, path: Path, what: str) -> T:
    """Run ``fn`` in a daemon thread; raise ``DecodeTimeoutError`` if it has not returned in time."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def target() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)

    threading.Thread(target=target, name=f"kairos-open:{path.name}", daemon=True).start()
    done, _ = concurrent.futures.wait([future], timeout=timeout_s)
    if not done:
        raise DecodeTimeoutError(f"{path}: {what} did not finish within {timeout_s:g} s (watchdog)")
    return future.result()


def check_file(path: Path) -> None:
    """Fail early, with a clear message, on a path that cannot be a video file."""
    if not path.exists():
        raise MediaNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise NotAVideoError(f"{path}: is a directory, not a video file")
    if path.is_file() and path.stat().st_size == 0:
        raise CorruptMediaError(f"{path}: empty file (0 bytes)")


def _looks_like_media(path: Path) -> bool:
    """Whether the file starts like a known container (then a failed open means corrupt, not 'not video')."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_TS_PACKET + 1)
    except OSError:
        return False
    mpeg_ts = head[:1] == head[_TS_PACKET:] == b"G"
    return head[4:8] in _MP4_BOXES or head.startswith(_MAGIC) or mpeg_ts


def _open_error(path: Path, exc: Exception) -> MediaError:
    """Translate an av.open failure into the matching ``MediaError``."""
    if isinstance(exc, FileNotFoundError):
        return MediaNotFoundError(f"{path}: no such file")
    if _looks_like_media(path):
        return CorruptMediaError(f"{path}: corrupt or truncated media, cannot read its header ({exc})")
    return NotAVideoError(f"{path}: not a video file (no known media format)")


def _open_av(path: Path) -> Any:
    """Open ``path`` with PyAV, translating its errors."""
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise _open_error(path, exc) from None


def open_container(path: Path, timeout_s: float) -> Any:
    """Open ``path`` with PyAV under the watchdog."""
    return call_with_timeout(lambda: _open_av(path), timeout_s, path, "opening")


def video_stream(container: Any, path: Path) -> Any:
    """The first real video stream (cover art excluded), set to decode with one thread."""
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        if container.streams.audio:
            raise NotAVideoError(f"{path}: audio-only file (no video stream)")
        if not container.streams:
            raise CorruptMediaError(f"{path}: zero-length video (the container holds no streams)")
        raise NotAVideoError(f"{path}: no video stream")
    stream = streams[0]
    stream.codec_context.thread_count = DECODE_THREADS
    return stream


def stream_duration(container: Any, stream: Any) -> float:
    """Stream duration in seconds, else the container's, else 0."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _probe_pyav(path: Path) -> VideoInfo:
    """Read the container header and decode the first frame."""
    with _open_av(path) as container:
        stream = video_stream(container, path)
        first = next(iter(decoded_frames(container, stream, path, Deadline(path, 1e9))), None)
        if first is None:
            raise CorruptMediaError(f"{path}: zero-length video (no decodable frames)")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = stream_duration(container, stream) or (stream.frames / fps if fps else 0.0)
        if fps <= 0 or duration <= 0:
            raise CorruptMediaError(f"{path}: unknown frame rate or duration")
        frame_count = stream.frames or round(duration * fps)
        return VideoInfo(str(path), duration, fps, frame_count, first[2].width, first[2].height, "pyav")


def probe_pyav(path: Path, timeout_s: float) -> VideoInfo:
    """Probe ``path`` with PyAV (header plus one decoded frame) under the watchdog."""
    check_file(path)
    return call_with_timeout(lambda: _probe_pyav(path), timeout_s, path, "probing")


def decoded_frames(
    container: Any, stream: Any, path: Path, deadline: Deadline, origin: float | None = None
) -> Iterator[TimedFrame]:
    """(start, end, av.VideoFrame) in presentation order, times in seconds from the first frame.

    ``origin`` is the first frame's time where it is known (decoding after a seek), else the first decoded.
    A decode error before the first frame of the file is ``CorruptMediaError``; otherwise the data is taken
    to end there.
    """
    fallback = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except (av.FFmpegError, OSError) as exc:
            if origin is None:
                raise CorruptMediaError(f"{path}: corrupt video data, no frame decodes ({exc})") from None
            log.warning("%s: decoding stopped early, data ends or is corrupt (%s)", path, exc)
            return
        deadline.check()
        if frame.pts is None:
            continue
        start = float(frame.pts * stream.time_base)
        origin = start if origin is None else origin
        length = float(frame.duration * stream.time_base) if frame.duration else fallback
        yield start - origin, start - origin + length, frame


def select(
    frames: Iterable[tuple[float, float, F]], times: Iterator[float], rel_tol: float = 0.0
) -> Iterator[tuple[float, F]]:
    """For each target time t, the last frame with start <= t; targets past the data are dropped.

    A start within ``1e-9 + rel_tol * t`` after t counts as <= t (decord's timestamps are float32).
    """
    shown: tuple[float, float, F] | None = None
    target = next(times, None)
    for entry in frames:
        while target is not None and shown is not None and target * (1 + rel_tol) + 1e-9 < entry[0]:
            yield target, shown[2]
            target = next(times, None)
        if target is None:
            return
        shown = entry
    while target is not None and shown is not None and target < shown[1]:
        yield target, shown[2]
        target = next(times, None)


def pyav_frames(path: Path, times: Iterator[float], deadline: Deadline, timeout_s: float) -> Iterator[Frame]:
    """Decode ``path`` sequentially with PyAV and yield (t, RGB [H, W, 3] uint8) for each target time."""
    with open_container(path, timeout_s) as container:
        stream = video_stream(container, path)
        for t, frame in select(decoded_frames(container, stream, path, deadline), times):
            yield t, to_rgb(frame, path, t)


def to_rgb(frame: Any, path: Path, t: float) -> np.ndarray:
    """An av.VideoFrame as RGB [H, W, 3] uint8."""
    try:
        return np.asarray(frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as exc:
        raise CorruptMediaError(f"{path}: cannot convert a frame at {t:.3f} s to RGB ({exc})") from None


def shown_at(frames: Iterable[TimedFrame], t: float) -> tuple[TimedFrame | None, bool]:
    """The last frame starting at or before t (as ``select``), and whether a frame after t was reached."""
    shown: TimedFrame | None = None
    for entry in frames:
        if t + 1e-9 < entry[0]:
            return shown, True
        shown = entry
    return shown, False


def seek_to(container: Any, stream: Any, origin_pts: int, t: float) -> bool:
    """Seek to the keyframe at or before t seconds from the first frame; False where the file cannot seek."""
    target = origin_pts + math.floor(t / stream.time_base)
    try:
        container.seek(target, backward=True, any_frame=False, stream=stream)
    except (av.FFmpegError, OSError) as exc:
        log.info("cannot seek in %s (%s); decoding from the start", container.name, exc)
        return False
    return True


def import_decord() -> Any | None:
    """The decord module, or None where it is not installed."""
    try:
        import decord
    except ImportError:
        return None
    return decord


def open_decord(path: Path, timeout_s: float) -> Any:
    """A ``decord.VideoReader`` for ``path`` (one thread); raises ``CorruptMediaError`` if decord fails."""
    decord = import_decord()
    if decord is None:
        raise MediaError(f"{path}: the decord backend was asked for but decord is not installed")

    def make() -> Any:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=DECODE_THREADS)

    try:
        return call_with_timeout(make, timeout_s, path, "opening with decord")
    except (decord.DECORDError, RuntimeError) as exc:
        raise CorruptMediaError(f"{path}: decord cannot open it ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    """The first line of an exception message (decord appends a C++ stack trace)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def decord_frames(
    reader: Any, info: VideoInfo, times: Iterator[float], deadline: Deadline
) -> Iterator[Frame]:
    """Yield (t, RGB [H, W, 3] uint8) for each target time, fetching frames in bounded chunks.

    As with PyAV, a decode error before the first frame is ``CorruptMediaError``; after it, iteration stops.
    """
    import decord

    path = Path(info.path)
    spans = np.asarray(reader.get_frame_timestamp(range(len(reader))), dtype=np.float64).reshape(-1, 2)
    spans -= spans[:, 0].min()
    spans[:, 1] = np.maximum(spans[:, 1], spans[:, 0] + 1.0 / info.fps)
    picks = select(((s, e, i) for i, (s, e) in enumerate(spans.tolist())), times, FLOAT32_REL_TOL)
    per_chunk = max(1, min(CHUNK_FRAMES, CHUNK_BYTES // (info.height * info.width * 3)))
    started = False
    while chunk := list(itertools.islice(picks, per_chunk)):
        deadline.check()
        try:
            batch = reader.get_batch([index for _, index in chunk]).asnumpy()
        except (decord.DECORDError, RuntimeError) as exc:
            if not started:
                raise CorruptMediaError(f"{path}: decord cannot decode it ({_first_line(exc)})") from None
            log.warning("%s: decoding stopped early, data ends or is corrupt (%s)", path, _first_line(exc))
            return
        started = True
        yield from zip((t for t, _ in chunk), batch, strict=True)


def open_video(path: Path, backend: Backend, timeout_s: float) -> tuple[VideoInfo, Any | None]:
    """Probe with PyAV, then open with decord unless told not to; returns the info and the decord reader.

    "auto" falls back to PyAV (reader None) where decord is not installed or cannot open the file;
    "decord" raises instead.
    """
    if backend not in ("auto", "decord", "pyav"):
        raise ValueError(f"unknown backend {backend!r}: use 'auto', 'decord' or 'pyav'")
    info = probe_pyav(path, timeout_s)
    if backend == "pyav" or (backend == "auto" and import_decord() is None):
        return info, None
    try:
        reader = open_decord(path, timeout_s)
    except CorruptMediaError as exc:
        if backend == "decord":
            raise
        log.info("falling back to PyAV: %s", exc)
        return info, None
    return replace(info, backend="decord"), reader
