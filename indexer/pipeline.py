"""The batch indexer: sources -> decode worker processes -> encoder (this process) -> snapshot writer.

Incremental: a file whose content hash matches a video of the CURRENT snapshot (same model fingerprint)
is carried over without re-encoding. Resumable: each encoded video is checkpointed atomically in
`ROOT/work/<fingerprint>/<content hash>.npz` before the snapshot is written, so a killed run restarted
re-encodes only what was not finished; the checkpoints of published videos are removed after publishing.

Decoding runs in `indexer.decode_pool`; the model side (`indexer.encoding`) is imported where the encoder is
built, so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from indexer.decode_pool import STALL_TIMEOUT_S, DecodePool, DecodeSettings, Task, describe
from indexer.features import FeatureError, feature_items, read_feature_clips
from indexer.media import MediaError
from indexer.snapshot import (
    Snapshot,
    SnapshotNotFoundError,
    SnapshotWriter,
    VideoRecord,
    check_writable,
    open_snapshot,
)
from indexer.snapshot.layout import describe_os_error
from indexer.sources import check_unique, content_hash, resolve_sources
from indexer.streams import StreamSettings, user_languages
from indexer.streams.embedded import SubtitleTrack, subtitle_source

if TYPE_CHECKING:
    from indexer.encoding import EncodedVideo, PendingVideo, VideoEncoder
    from models.model import KairosModel

log = logging.getLogger(__name__)

WORK = "work"
LOCK = ".index.lock"


# ---------------------------------------------------------------- the batch


@dataclass(frozen=True)
class IndexOptions:
    """How to run a batch: decode processes, precomputed features and their fps, progress bar, watchdog,
    `on_progress(done, total)`, called with the sources settled so far (indexed, reused, resumed or
    failed) after planning and after each video, and the text streams read (by default subtitles, with the
    user's languages from the environment choosing among embedded tracks)."""

    workers: int = 1
    features: Path | None = None
    features_fps: float | None = None
    progress: bool = False
    stall_timeout_s: float = STALL_TIMEOUT_S
    on_progress: Callable[[int, int], None] | None = None
    streams: StreamSettings = field(default_factory=lambda: StreamSettings(languages=user_languages()))


class IndexingError(RuntimeError):
    """The batch cannot run: another indexer holds the root, the root was built by another model, or a
    video's checkpoint cannot be written (a full or failing disk)."""


def index(
    root: Path, sources: Sequence[str], model: str | KairosModel, options: IndexOptions
) -> dict[str, Any]:
    """Index ``sources`` (and ``options.features``) into the snapshot root ``root``; return the report.

    ``model`` is a spec for `resolve_model` (a checkpoint folder or a registered name) or a loaded model.

    Refused before any work: bad sources, duplicate video ids, an unwritable root, a root being indexed by
    another process, a root whose snapshot was built by another model.
    """
    started = time.perf_counter()
    if options.features_fps is not None and options.features_fps <= 0:
        raise FeatureError(f"the features' fps must be positive, got {options.features_fps}")
    resolved = resolve_sources(sources, options.streams.languages)
    features = feature_items(options.features) if options.features is not None else []
    check_unique(resolved.items + features)
    check_writable(root)
    with _root_lock(root):
        import torch

        from indexer.encoding import VideoEncoder
        from models.pretrained import model_fingerprint, resolve_model

        torch.set_num_threads(1)
        kairos_model = resolve_model(model) if isinstance(model, str) else model
        fingerprint = model_fingerprint(kairos_model)
        base = _open_base(root, fingerprint)
        try:
            skipped = [{"path": str(s.path), "reason": s.reason} for s in resolved.skipped]
            batch = _Batch(root, VideoEncoder(kairos_model), fingerprint, options, skipped)
            batch.timings["load_model"] = time.perf_counter() - started
            fps = options.features_fps or kairos_model.config.fps
            tasks = [Task(item, "video") for item in resolved.items]
            tasks += [Task(item, "features", salt=f"features@{fps:g}") for item in features]
            report = batch.run(tasks, base) | {
                "model": model if isinstance(model, str) else model.config.name
            }
        finally:
            if base is not None:
                base.close()
    report["timings"]["total"] = time.perf_counter() - started
    return report


@contextmanager
def _root_lock(root: Path) -> Iterator[None]:
    """One indexer per root at a time (two would each publish without the other's videos)."""
    (root / WORK).mkdir(parents=True, exist_ok=True)
    with open(root / WORK / LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexingError(
                f"another `kairos index` is running on {root}; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _open_base(root: Path, fingerprint: str) -> Snapshot | None:
    """The CURRENT snapshot (None when there is none); IndexingError when another model built it."""
    try:
        base = open_snapshot(root)
    except SnapshotNotFoundError:
        return None
    if base.manifest.model_hash != fingerprint:
        base.close()
        raise IndexingError(
            f"{root} holds snapshot {base.version} built by model {base.manifest.model_hash}, but the model "
            f"asked for has fingerprint {fingerprint}: index into another --out folder, or use the model "
            "the snapshot was built with"
        )
    return base


class _Batch:
    """The state of one run: plan, encode (checkpointing each video), write and publish, report."""

    def __init__(
        self,
        root: Path,
        encoder: VideoEncoder,
        fingerprint: str,
        options: IndexOptions,
        skipped: list[dict[str, Any]],
    ) -> None:
        self.root = root
        self.encoder = encoder
        self.fingerprint = fingerprint
        self.options = options
        self.work = root / WORK / fingerprint
        self.timings = dict.fromkeys(
            ("load_model", "hash", "decode", "ocr", "asr", "encode", "pipeline", "write", "publish"), 0.0
        )
        self.ocr = {"samples": 0, "reads": 0, "lines": 0}
        self.asr: dict[str, float] = {"seconds": 0.0, "lines": 0}
        self.indexed: list[dict[str, Any]] = []
        self.resumed: list[dict[str, Any]] = []
        self.reused: list[dict[str, Any]] = []
        self.skipped = skipped
        self.failed: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []  # indexed, but with a problem to fix (a bad subtitle file)
        self.finished: list[Task] = []  # encoded now or earlier: their checkpoints go into the snapshot
        self.carried: list[tuple[Task, str]] = []  # (task, id of the base video with the same content)
        self.clips_seen = 0
        self.total = 0
        self.bar: tqdm[Any] | None = None

    def checkpoint(self, task: Task) -> Path:
        return self.work / f"{task.content_hash}.npz"

    def run(self, tasks: list[Task], base: Snapshot | None) -> dict[str, Any]:
        self.total = len(tasks)
        todo = self._plan(self._hashed(tasks), base)
        self._tell()
        started = time.perf_counter()
        self.bar = tqdm(total=len(todo), unit="video", desc="indexing", disable=not self.options.progress)
        with self.bar:
            self._encode_features([t for t in todo if t.kind == "features"])
            self._encode_videos([t for t in todo if t.kind == "video"])
        self.timings["pipeline"] = time.perf_counter() - started
        report = self._report(base)
        if self.finished or any(self._differs(task, base_id, base) for task, base_id in self.carried):
            report["version"] = self._write(base, report)
            self._clean_work()
        else:
            report["version"] = base.version if base is not None else None
        return report

    def _hashed(self, tasks: list[Task]) -> list[Task]:
        """Tasks with their text source and content hash (the file, its subtitles, the kind's salt and, for
        videos, the streams read and the embedded track chosen); unreadable files fail."""
        started = time.perf_counter()
        out = []
        for task in tasks:
            task = self._with_text(task)
            sidecar = task.subtitles if isinstance(task.subtitles, Path) else None
            try:
                digest = content_hash(task.item.path, sidecar, salt=task.salt)
            except OSError as exc:
                self._fail(task, f"{exc.filename or task.item.path}: cannot be read ({exc.strerror or exc})")
                continue
            out.append(dataclasses.replace(task, content_hash=digest))
        self.timings["hash"] = time.perf_counter() - started
        return out

    def _with_text(self, task: Task) -> Task:
        """A task with its subtitles (for videos: the sidecar, else the embedded track the stream settings
        choose) and, for videos, the salt of the stream settings and that choice."""
        if task.kind == "features":
            return dataclasses.replace(task, subtitles=task.item.subtitles)
        streams = self.options.streams
        if not streams.subtitles:
            return dataclasses.replace(task, salt=streams.salt(None))
        source = subtitle_source(task.item.path, task.item.subtitles, streams.languages)
        track = source.key() if isinstance(source, SubtitleTrack) else None
        return dataclasses.replace(task, subtitles=source, salt=streams.salt(track))

    def _plan(self, tasks: list[Task], base: Snapshot | None) -> list[Task]:
        """Split into reused (content in the base snapshot), resumed (checkpoint on disk) and to encode."""
        by_hash = {row.content_hash: row.video_id for row in base.videos()} if base is not None else {}
        todo = []
        for task in tasks:
            if task.content_hash in by_hash:
                self.carried.append((task, by_hash[task.content_hash]))
                self.reused.append(_entry(task))
            elif self.checkpoint(task).is_file():
                self.finished.append(task)
                self.resumed.append(_entry(task))
            else:
                todo.append(task)
        return todo

    def _encode_features(self, tasks: list[Task]) -> None:
        c = self.encoder.config
        source_fps = self.options.features_fps or c.fps
        for task in tasks:
            started = time.perf_counter()
            try:
                feats, mask, texts, duration = read_feature_clips(
                    task.item, c.visual_dim, source_fps, c.fps, c.clip_seconds, c.frames_per_clip
                )
            except (FeatureError, MediaError) as exc:
                self._fail(task, str(exc))
                continue
            self.timings["decode"] += time.perf_counter() - started
            self._progress(len(feats))
            self._finish(task, self.encoder.encode, feats, mask, texts, duration)

    def _encode_videos(self, tasks: list[Task]) -> None:
        """Decode in worker processes (PREFETCH videos queued on each), encode here as clip chunks arrive."""
        from indexer.encoding import PendingVideo

        if not tasks:
            return
        c = self.encoder.config
        settings = DecodeSettings(
            c.fps,
            c.clip_seconds,
            (c.frame_width, c.frame_height),
            ocr=self.options.streams.ocr,
            asr=self.options.streams.asr,
        )
        queue = deque(enumerate(tasks))
        pending: dict[int, PendingVideo] = {}
        with DecodePool(self.options.workers, settings, self.options.stall_timeout_s) as pool:
            while queue or pool.busy:
                while queue and pool.has_room:
                    task_id, task = queue.popleft()
                    pool.submit(task_id, task.item.path, task.subtitles)
                    pending[task_id] = PendingVideo(self.encoder)
                for event in pool.poll():
                    self.timings[event.kind if event.kind in ("ocr", "asr") else "decode"] += event.seconds
                    task = tasks[event.task_id]
                    video = pending.get(event.task_id)
                    if video is None:  # its encoding failed already; the worker may still be sending
                        continue
                    if event.kind == "warning":
                        self._warn(task, event.reason)
                        continue
                    if event.kind == "ocr":
                        for key, count in zip(("samples", "reads", "lines"), event.ocr, strict=True):
                            self.ocr[key] += count
                        continue
                    if event.kind == "asr":
                        self.asr["seconds"] += event.asr[0]
                        self.asr["lines"] += event.asr[1]
                        continue
                    if event.kind == "lines":
                        video.lines = event.lines
                        continue
                    if event.kind == "clips":
                        self._progress(len(event.clips))
                        if not self._encode_step(task, video.add, event.clips):
                            del pending[event.task_id]
                        continue
                    del pending[event.task_id]
                    if event.kind == "failed":
                        self._fail(task, event.reason)
                    else:
                        self._finish(task, video.finish, event.duration)

    def _encode_step(self, task: Task, step: Callable[..., object], *args: Any) -> bool:
        """Run ``step(*args)``, timed; a model error fails this video only (False)."""
        started = time.perf_counter()
        try:
            step(*args)
        except (ValueError, RuntimeError) as exc:
            self._fail(task, f"{task.item.path}: encoding failed: {describe(exc)}")
            return False
        finally:
            self.timings["encode"] += time.perf_counter() - started
        return True

    def _finish(self, task: Task, encode: Callable[..., EncodedVideo], *args: Any) -> None:
        """Encode the rest of a video, checkpoint its vectors, count it."""
        result: list[EncodedVideo] = []
        if not self._encode_step(task, lambda: result.append(encode(*args))):
            return
        encoded = result[0]
        try:
            encoded.save(self.checkpoint(task))
        except OSError as exc:  # the disk, not the video: the whole batch stops, with a clear message
            why = f"cannot checkpoint video {task.item.video_id!r} in {self.work}: {describe_os_error(exc)}"
            raise IndexingError(why) from exc
        self.finished.append(task)
        self.indexed.append(_entry(task) | {"clips": len(encoded.clips), "duration": encoded.duration})
        self._advance()

    def _warn(self, task: Task, reason: str) -> None:
        log.warning("%s", reason)
        self.warnings.append(_entry(task) | {"warning": reason})

    def _fail(self, task: Task, reason: str) -> None:
        log.warning("%s", reason)
        self.failed.append(_entry(task) | {"reason": reason})
        self._advance()

    def _progress(self, clips: int) -> None:
        self.clips_seen += clips
        if self.bar is not None:
            elapsed = max(self.bar.format_dict["elapsed"], 1e-9)
            rate = self.clips_seen * self.encoder.config.clip_seconds / elapsed
            self.bar.set_postfix(clips=self.clips_seen, video_s_per_s=f"{rate:.1f}", refresh=False)

    def _advance(self) -> None:
        if self.bar is not None and self.bar.n < self.bar.total:
            self.bar.update(1)
        self._tell()

    def _tell(self) -> None:
        """Hand (done, total) to the progress callback, if any."""
        if self.options.on_progress is not None:
            done = len(self.indexed) + len(self.failed) + len(self.reused) + len(self.resumed)
            self.options.on_progress(done, self.total)

    def _differs(self, task: Task, base_id: str, base: Snapshot | None) -> bool:
        """Whether a reused video changes its id, path or metadata (so a new snapshot is worth publishing)."""
        assert base is not None
        row = base.video(base_id)
        return (row.video_id, row.path, row.metadata) != (
            task.item.video_id,
            str(task.item.path),
            task.item.metadata,
        )

    def _write(self, base: Snapshot | None, report: dict[str, Any]) -> str:
        """Carry the base's other videos, add reused and finished ones, publish; the new version."""
        from indexer.encoding import EncodedVideo

        started = time.perf_counter()
        c = self.encoder.config
        added = {task.item.video_id for task in self.finished} | {
            task.item.video_id for task, _ in self.carried
        }
        with SnapshotWriter(self.root, self.fingerprint, c.dim, c.clip_seconds) as writer:
            if base is not None:
                writer.carry(base, [v for v in base.video_ids if v not in added])
                for task, base_id in self.carried:
                    writer.add_video(dataclasses.replace(base.record(base_id), **_identity(task)))
            for task in self.finished:
                encoded = EncodedVideo.load(self.checkpoint(task))
                writer.add_video(
                    VideoRecord(
                        **_identity(task),
                        duration=encoded.duration,
                        content_hash=task.content_hash,
                        clips=encoded.clips,
                        segments=encoded.segments,
                        segment_ranges=encoded.segment_ranges,
                        video_vector=encoded.video,
                        lines=encoded.lines,
                        line_vectors=encoded.line_vectors,
                    )
                )
            self.timings["write"] = report["timings"]["write"] = time.perf_counter() - started
            started = time.perf_counter()
            info = writer.publish(report)
        self.timings["publish"] = report["timings"]["publish"] = time.perf_counter() - started
        return info.version

    def _clean_work(self) -> None:
        """Remove the checkpoints now in the published snapshot and any temp file a killed run left."""
        for task in self.finished:
            self.checkpoint(task).unlink(missing_ok=True)
        for leftover in self.work.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        if self.work.is_dir() and not any(self.work.iterdir()):
            self.work.rmdir()

    def _report(self, base: Snapshot | None) -> dict[str, Any]:
        clips = sum(entry["clips"] for entry in self.indexed)
        seconds = sum(entry["duration"] for entry in self.indexed)
        wall = self.timings["pipeline"]
        return {
            "model_fingerprint": self.fingerprint,
            "base_version": base.version if base is not None else None,
            "indexed": self.indexed,
            "resumed": self.resumed,
            "reused": self.reused,
            "skipped": self.skipped,
            "failed": self.failed,
            "warnings": self.warnings,
            "counts": {
                "indexed": len(self.indexed),
                "resumed": len(self.resumed),
                "reused": len(self.reused),
                "skipped": len(self.skipped),
                "failed": len(self.failed),
                "warnings": len(self.warnings),
                "clips_encoded": clips,
                "video_seconds_encoded": seconds,
                "ocr_samples": self.ocr["samples"],
                "ocr_reads": self.ocr["reads"],
                "ocr_lines": self.ocr["lines"],
                "asr_seconds": self.asr["seconds"],
                "asr_lines": self.asr["lines"],
            },
            "timings": dict(self.timings),
            "throughput": {
                "video_seconds_per_second": seconds / wall if wall > 0 else 0.0,
                "clips_per_second": clips / wall if wall > 0 else 0.0,
            },
        }


def _entry(task: Task) -> dict[str, Any]:
    return {"video_id": task.item.video_id, "path": str(task.item.path)}


def _identity(task: Task) -> dict[str, Any]:
    return {"video_id": task.item.video_id, "path": str(task.item.path), "metadata": task.item.metadata}


def clean_work(root: Path) -> list[str]:
    """Remove checkpoints no run will use: other models' folders (when a snapshot exists), videos already in
    CURRENT, temp files of killed runs. Returns the removed names (relative to ROOT/work)."""
    work = root / WORK
    if not work.is_dir():
        return []
    removed: list[str] = []
    with _root_lock(root):
        try:
            with open_snapshot(root) as current:
                keep: str | None = current.manifest.model_hash
                published = {row.content_hash for row in current.videos()}
        except SnapshotNotFoundError:
            keep, published = None, set()
        for folder in sorted(p for p in work.iterdir() if p.is_dir()):
            if keep is not None and folder.name != keep:
                shutil.rmtree(folder)
                removed.append(folder.name)
                continue
            for entry in sorted(folder.iterdir()):
                if entry.name.endswith(".tmp") or entry.stem in published:
                    entry.unlink()
                    removed.append(f"{folder.name}/{entry.name}")
    return removed
