"""Decode worker processes for the indexer: bounded pipes, stall watchdog, a crashed worker replaced.

Imported by the workers (forkserver processes), so it must not import torch or the model code.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal

from indexer.media import Clip, MediaError, iter_clips
from indexer.sources import SourceItem
from indexer.streams.asr import SpeechScan, Transcriber
from indexer.streams.embedded import SubtitleTrack, read_track
from indexer.streams.ocr import ScreenReader, ScreenScan
from indexer.streams.settings import AsrSettings, OcrSettings
from indexer.subtitles import Cue, read_subtitles

log = logging.getLogger(__name__)

CHUNK_CLIPS = 32  # clips per message from a decode worker (~3.5 MB at 128x96, 3 frames a clip)
STALL_TIMEOUT_S = 300.0  # a worker silent this long on one video is killed and the video failed
POLL_S = 1.0
PREFETCH = 2  # videos queued per decode worker
REPORT_S = 10.0  # a worker reading on-screen text or speech reports this often (the stall watchdog hears it)

Subtitles = Path | SubtitleTrack | None  # a sidecar file, an embedded track, or no subtitles


@dataclass(frozen=True)
class DecodeSettings:
    """What a decode worker needs: the model's sampling and frame size, and OCR and speech settings (None:
    not read)."""

    fps: float
    clip_seconds: float
    size: tuple[int, int]
    chunk_clips: int = CHUNK_CLIPS
    ocr: OcrSettings | None = None
    asr: AsrSettings | None = None


@dataclass(frozen=True)
class Task:
    """One file to index: its source item, kind, hash salt (what else its vectors depend on), content hash,
    and the text source its subtitles come from."""

    item: SourceItem
    kind: Literal["video", "features"]
    salt: str = ""
    content_hash: str = ""
    subtitles: Subtitles = None


# ---------------------------------------------------------------- decode workers


def _decode_loop(conn: Connection, settings: DecodeSettings) -> None:
    """Worker process: for each (task id, path, subtitles) received, stream clip chunks, then done/error."""
    while True:
        try:
            message = conn.recv()
            if message is None:
                return
            _decode_one(conn, settings, *message)
        except (EOFError, OSError):  # the parent is gone
            return


def _decode_one(
    conn: Connection, settings: DecodeSettings, task_id: int, path: Path, subtitles: Subtitles
) -> None:
    for message in _decode_messages(settings, task_id, path, subtitles):
        conn.send(message)


def _decode_messages(
    settings: DecodeSettings, task_id: int, path: Path, subtitles: Subtitles
) -> Iterator[tuple[str, int, Any, float]]:
    """Maybe ("warning", id, reason, 0), with OCR ("ocr", id, (samples, reads, lines), s)..., with speech
    ("asr", id, (audio seconds, lines), s)..., then ("lines", id, cues, 0) (every stream's timed lines, if
    any), ("clips", id, clips, s)... then ("done", id, duration, s) or ("error", id, reason, s).

    Subtitles (a sidecar file or an embedded track) that cannot be read do not fail the video: it is decoded
    without them and the reason comes back as a warning (the user keeps the video; the report says what to
    fix). On-screen text and speech lines join the subtitle cues; audio that cannot be decoded fails the
    video (a video without audio has no speech lines). Seconds are decoding (or OCR, or speech) time only:
    the clock restarts after each message has been taken by the encoder.
    """
    started = time.perf_counter()
    end = 0.0
    chunk: list[Clip] = []
    cues: list[Cue] = []
    if subtitles is not None:
        try:
            cues = _read_cues(path, subtitles)
        except Exception as exc:  # bad subtitles cost the video its text, not its place in the index
            yield "warning", task_id, f"{describe(exc)}; the video is indexed without subtitles", 0.0
    try:
        if settings.ocr is not None:
            yield from _ocr_messages(settings.ocr, task_id, path, cues)
            started = time.perf_counter()
        if settings.asr is not None:
            yield from _asr_messages(settings.asr, task_id, path, cues)
            started = time.perf_counter()
        cues.sort(key=lambda cue: cue.start)
        if cues:
            yield "lines", task_id, cues, 0.0
        for clip in iter_clips(path, settings.fps, settings.clip_seconds, settings.size, cues):
            chunk.append(clip)
            end = clip.end
            if len(chunk) == settings.chunk_clips:
                yield "clips", task_id, chunk, time.perf_counter() - started
                chunk = []
                started = time.perf_counter()
    except Exception as exc:  # any failure of one file is reported, never the end of the batch
        yield "error", task_id, describe(exc), time.perf_counter() - started
        return
    if end <= 0:
        yield "error", task_id, f"{path}: no frames could be decoded", time.perf_counter() - started
        return
    if chunk:
        yield "clips", task_id, chunk, time.perf_counter() - started
    yield "done", task_id, end, 0.0


def _ocr_messages(
    settings: OcrSettings, task_id: int, path: Path, cues: list[Cue]
) -> Iterator[tuple[str, int, Any, float]]:
    """Scan ``path`` for on-screen text, adding its lines to ``cues``; report progress every REPORT_S."""
    scan = ScreenScan(path, _screen_reader(settings.max_width), settings)
    started = time.perf_counter()
    told = (0, 0)
    for _ in scan:
        if time.perf_counter() - started >= REPORT_S:
            counts = (scan.samples - told[0], scan.reads - told[1], 0)
            yield "ocr", task_id, counts, time.perf_counter() - started
            told, started = (scan.samples, scan.reads), time.perf_counter()
    lines = scan.cues()
    cues.extend(lines)
    counts = (scan.samples - told[0], scan.reads - told[1], len(lines))
    yield "ocr", task_id, counts, time.perf_counter() - started


def _asr_messages(
    settings: AsrSettings, task_id: int, path: Path, cues: list[Cue]
) -> Iterator[tuple[str, int, Any, float]]:
    """Transcribe the speech of ``path``, adding its lines to ``cues``; report progress every REPORT_S."""
    scan = SpeechScan(path, _transcriber(settings))
    started = time.perf_counter()
    told = 0.0
    for _ in scan:
        if time.perf_counter() - started >= REPORT_S:
            yield "asr", task_id, (scan.seconds - told, 0), time.perf_counter() - started
            told, started = scan.seconds, time.perf_counter()
    lines = scan.cues()
    cues.extend(lines)
    yield "asr", task_id, (scan.seconds - told, len(lines)), time.perf_counter() - started


def _read_cues(path: Path, subtitles: SubtitleTrack | Path) -> list[Cue]:
    """The cues of an embedded track of ``path`` or of a sidecar file."""
    return read_track(path, subtitles) if isinstance(subtitles, SubtitleTrack) else read_subtitles(subtitles)


@cache
def _screen_reader(max_side: int) -> ScreenReader:
    """The OCR engine of this worker process, loaded on first use."""
    return ScreenReader(max_side)


@cache
def _transcriber(settings: AsrSettings) -> Transcriber:
    """The speech model of this worker process, loaded on first use."""
    return Transcriber(settings)


def describe(exc: BaseException) -> str:
    """A one-line reason: the message of media errors (they name the file), else the type and message."""
    return str(exc) if isinstance(exc, MediaError) else f"{type(exc).__name__}: {exc}"


# The messages of a task in progress, and the DecodeEvent field each one's payload fills.
_PROGRESS = {"clips": "clips", "warning": "reason", "ocr": "ocr", "asr": "asr", "lines": "lines"}


@dataclass
class DecodeEvent:
    """What a decode worker reported about one task."""

    task_id: int
    kind: Literal["clips", "done", "failed", "warning", "ocr", "asr", "lines"]
    seconds: float = 0.0
    clips: list[Clip] = field(default_factory=list)
    duration: float = 0.0
    reason: str = ""
    ocr: tuple[int, int, int] = (0, 0, 0)  # OCR samples taken, samples read, lines found
    asr: tuple[float, int] = (0.0, 0)  # audio seconds transcribed, speech lines found
    lines: list[Cue] = field(default_factory=list)


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    tasks: deque[tuple[int, Path, Subtitles]] = field(default_factory=deque)  # sent, not yet done
    last_seen: float = 0.0


class DecodePool:
    """Decode processes, each with up to PREFETCH videos queued (it decodes the next one while this process
    encodes the last); a crashed or stalled worker fails its current video and is replaced."""

    def __init__(
        self, workers: int, settings: DecodeSettings, stall_timeout_s: float = STALL_TIMEOUT_S
    ) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([__name__])  # workers fork with their imports done
        self._settings = settings
        self._stall = stall_timeout_s
        self._workers = [self._start() for _ in range(max(1, workers))]

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_decode_loop, args=(child, self._settings), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    @property
    def pids(self) -> list[int | None]:
        return [w.process.pid for w in self._workers]

    @property
    def busy(self) -> bool:
        return any(w.tasks for w in self._workers)

    @property
    def has_room(self) -> bool:
        return any(len(w.tasks) < PREFETCH for w in self._workers)

    def submit(self, task_id: int, path: Path, subtitles: Subtitles) -> None:
        """Queue a video on the least loaded worker (call only when `has_room`)."""
        self._send(min(self._workers, key=lambda w: len(w.tasks)), (task_id, path, subtitles))

    def _send(self, worker: _Worker, task: tuple[int, Path, Subtitles]) -> None:
        worker.conn.send(task)
        worker.tasks.append(task)
        if len(worker.tasks) == 1:
            worker.last_seen = time.monotonic()

    def poll(self, timeout: float = POLL_S) -> list[DecodeEvent]:
        """Wait up to ``timeout`` s for worker messages; crashed and stalled workers become failed events."""
        handles: list[Any] = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        ready = set(wait(handles, timeout))
        events: list[DecodeEvent] = []
        for i, worker in enumerate(self._workers):
            if worker.conn in ready:
                try:
                    kind, task_id, payload, seconds = worker.conn.recv()
                except (EOFError, OSError):
                    events += self._replace(
                        i, f"the decoder process died (exit code {self._exit_code(worker)})"
                    )
                    continue
                worker.last_seen = time.monotonic()
                if kind in _PROGRESS:  # the task goes on
                    events.append(DecodeEvent(task_id, kind, seconds, **{_PROGRESS[kind]: payload}))
                    continue
                worker.tasks.popleft()
                if kind == "done":
                    events.append(DecodeEvent(task_id, "done", seconds, duration=payload))
                else:
                    events.append(DecodeEvent(task_id, "failed", seconds, reason=payload))
            elif not worker.process.is_alive():
                events += self._replace(i, f"the decoder process died (exit code {worker.process.exitcode})")
            elif worker.tasks and time.monotonic() - worker.last_seen > self._stall:
                events += self._replace(
                    i, f"the decoder made no progress for {self._stall:.0f} s and was stopped"
                )
        return events

    def _exit_code(self, worker: _Worker) -> int | None:
        worker.process.join(timeout=1.0)
        return worker.process.exitcode

    def _replace(self, i: int, reason: str) -> list[DecodeEvent]:
        """Replace worker ``i`` by a fresh one given its queued videos; its current video fails."""
        old = self._workers[i]
        if old.process.is_alive():
            old.process.kill()
        old.process.join(timeout=5.0)
        old.conn.close()
        self._workers[i] = self._start()
        if not old.tasks:
            return []
        (task_id, path, _), *queued = old.tasks
        for task in queued:
            self._send(self._workers[i], task)
        log.warning("decode worker %s on %s: %s", old.process.pid, path, reason)
        return [DecodeEvent(task_id, "failed", reason=reason)]

    def close(self) -> None:
        for worker in self._workers:
            with suppress(OSError):
                worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=2.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
