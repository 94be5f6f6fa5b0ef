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
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal

from indexer.media import Clip, MediaError, iter_clips
from indexer.sources import SourceItem
from indexer.subtitles import read_subtitles

log = logging.getLogger(__name__)

CHUNK_CLIPS = 32  # clips per message from a decode worker (~3.5 MB at 128x96, 3 frames a clip)
STALL_TIMEOUT_S = 300.0  # a worker silent this long on one video is killed and the video failed
POLL_S = 1.0
PREFETCH = 2  # videos queued per decode worker


@dataclass(frozen=True)
class DecodeSettings:
    """What a decode worker needs: the model's sampling and frame size."""

    fps: float
    clip_seconds: float
    size: tuple[int, int]
    chunk_clips: int = CHUNK_CLIPS


@dataclass(frozen=True)
class Task:
    """One file to index: its source item, kind, hash salt (what else its vectors depend on), content hash."""

    item: SourceItem
    kind: Literal["video", "features"]
    salt: str = ""
    content_hash: str = ""


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
    conn: Connection, settings: DecodeSettings, task_id: int, path: Path, subtitles: Path | None
) -> None:
    for message in _decode_messages(settings, task_id, path, subtitles):
        conn.send(message)


def _decode_messages(
    settings: DecodeSettings, task_id: int, path: Path, subtitles: Path | None
) -> Iterator[tuple[str, int, Any, float]]:
    """Maybe ("warning", id, reason, 0), then ("clips", id, clips, s)... then ("done", id, duration, s) or
    ("error", id, reason, s).

    A subtitle file that cannot be read or parsed does not fail the video: it is decoded without subtitles
    and the reason comes back as a warning (the user keeps the video; the report says what to fix).
    Seconds are decoding time only: the clock restarts after each message has been taken by the encoder.
    """
    started = time.perf_counter()
    end = 0.0
    chunk: list[Clip] = []
    cues = None
    if subtitles is not None:
        try:
            cues = read_subtitles(subtitles)
        except Exception as exc:  # a bad sidecar costs the video its text, not its place in the index
            yield "warning", task_id, f"{describe(exc)}; the video is indexed without subtitles", 0.0
    try:
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


def describe(exc: BaseException) -> str:
    """A one-line reason: the message of media errors (they name the file), else the type and message."""
    return str(exc) if isinstance(exc, MediaError) else f"{type(exc).__name__}: {exc}"


@dataclass
class DecodeEvent:
    """What a decode worker reported about one task."""

    task_id: int
    kind: Literal["clips", "done", "failed", "warning"]
    seconds: float = 0.0
    clips: list[Clip] = field(default_factory=list)
    duration: float = 0.0
    reason: str = ""


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    tasks: deque[tuple[int, Path, Path | None]] = field(default_factory=deque)  # sent, not yet done
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

    def submit(self, task_id: int, path: Path, subtitles: Path | None) -> None:
        """Queue a video on the least loaded worker (call only when `has_room`)."""
        self._send(min(self._workers, key=lambda w: len(w.tasks)), (task_id, path, subtitles))

    def _send(self, worker: _Worker, task: tuple[int, Path, Path | None]) -> None:
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
                if kind == "clips":
                    events.append(DecodeEvent(task_id, "clips", seconds, clips=payload))
                    continue
                if kind == "warning":
                    events.append(DecodeEvent(task_id, "warning", reason=payload))
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
