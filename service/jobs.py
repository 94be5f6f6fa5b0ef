"""Index jobs over HTTP: paths confined to allowed roots, queued in Redis with rq, run by `kairos worker`."""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import redis
from rq import Queue, Retry, Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry

from indexer.sources import VIDEO_EXTENSIONS
from indexer.subtitles import find_sidecars
from service.errors import ApiError
from service.logs import log_config, request_id
from service.schemas import IndexJob, JobState
from service.settings import Settings

log = logging.getLogger(__name__)

KEEP_S = 7 * 24 * 3600
# A job whose worker died is retried once (indexing resumes from its checkpoints), then reported failed.
# rq finds such a job when its heartbeat lapses: JOB_MONITORING_S + 60 s after the worker's last beat.
RETRIES = 1
JOB_MONITORING_S = 10
GLOB_CHARS = frozenset("*?[")


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def confine(paths: list[str], roots: list[Path]) -> list[str]:
    """The video files the paths name (folders walked), each file and subtitle sidecar inside an allowed root.

    Refused: `..`, paths outside the roots, symlinks that lead outside them, globs and manifests (which could
    name anything). The returned list is what the job reads, so nothing added to a folder later is indexed.
    """
    if not roots:
        raise ApiError(403, "indexing_disabled", "indexing over HTTP is off: set KAIROS_ALLOWED_ROOTS")
    real_roots = [root.resolve() for root in roots]
    files: dict[str, None] = {}
    for i, raw in enumerate(paths):
        field = f"paths.{i}"

        def refuse(why: str, field: str = field) -> ApiError:
            return ApiError(422, "path_refused", f"{field}: {why}", field)

        path = Path(raw)
        if not raw.strip() or "\x00" in raw:
            raise refuse("an empty path")
        if ".." in path.parts:
            raise refuse("'..' is not allowed; give a path inside an allowed root")
        if GLOB_CHARS & set(raw) or path.suffix == ".jsonl":
            raise refuse("globs and manifests are not accepted over HTTP; list files or folders")
        base = path if path.is_absolute() else roots[0] / path
        if not _inside(base, roots) and not _inside(base, real_roots):
            raise refuse("outside the allowed roots")
        try:
            real = base.resolve(strict=True)
        except (OSError, RuntimeError):
            raise refuse("does not exist") from None
        if not _inside(real, real_roots):
            raise refuse("a symlink leads outside the allowed roots")
        videos = _walk(real) if real.is_dir() else [real]
        for found, sidecar in zip(videos, find_sidecars(videos), strict=True):
            target = found.resolve()
            if not _inside(target, real_roots) or (
                sidecar is not None and not _inside(sidecar.resolve(), real_roots)
            ):
                raise refuse("a symlink inside it leads outside the allowed roots")
            files[str(found)] = None
    if not files:
        raise ApiError(422, "no_videos", "no video files under the given paths", "paths")
    return list(files)


def _walk(folder: Path) -> list[Path]:
    """Video files under a folder (symlinked folders are not entered)."""
    found: list[Path] = []
    for top, _, names in os.walk(folder, followlinks=False):
        found.extend(Path(top) / n for n in sorted(names) if Path(n).suffix.lower() in VIDEO_EXTENSIONS)
    return sorted(found)


def queue(settings: Settings, connection: redis.Redis) -> Queue:
    return Queue(settings.queue_name, connection=connection, default_timeout=settings.job_timeout_s)


def submit(settings: Settings, connection: redis.Redis, files: list[str]) -> IndexJob:
    """Queue one job indexing `files` into the snapshot root."""
    try:
        job = queue(settings, connection).enqueue(
            run_index_job,
            files,
            str(settings.snapshot_root),
            settings.model,
            settings.index_workers,
            result_ttl=KEEP_S,
            failure_ttl=KEEP_S,
            retry=Retry(max=RETRIES),
            meta={"progress": 0.0, "done": 0, "total": len(files), "request_id": request_id.get()},
        )
    except (redis.RedisError, OSError):
        raise ApiError(
            503, "queue_unavailable", "the job queue (Redis) is unreachable; retry later"
        ) from None
    return describe(job)


def status(settings: Settings, connection: redis.Redis, job_id: str) -> IndexJob:
    """The state of a job; jobs of dead workers are retried or failed first, so none stays `started`."""
    try:
        StartedJobRegistry(queue=queue(settings, connection)).cleanup()
        job = Job.fetch(job_id, connection=connection)
    except (NoSuchJobError, ValueError):  # ValueError: not a job id at all
        raise ApiError(404, "job_not_found", f"no index job {job_id!r} (jobs are kept 7 days)") from None
    except (redis.RedisError, OSError):
        raise ApiError(
            503, "queue_unavailable", "the job queue (Redis) is unreachable; retry later"
        ) from None
    return describe(job)


def describe(job: Job) -> IndexJob:
    state = job.get_status(refresh=False)
    value: JobState = cast(JobState, state.value) if state is not None else "queued"
    error = message = None
    report = None
    if value == "failed":
        result = job.latest_result()
        lines = (result.exc_string or "").strip().splitlines() if result is not None else []
        error = lines[-1] if lines else "the job failed (the worker stopped)"
    elif value == "finished":
        returned = job.return_value()
        report = returned if isinstance(returned, dict) else None
    elif value == "queued":
        message = "waiting for a worker (`kairos worker`)"
    progress, done, total = (job.meta.get(key) for key in ("progress", "done", "total"))
    return IndexJob(
        id=job.id,
        state=value,
        progress=float(progress) if isinstance(progress, int | float) else None,
        done=done if isinstance(done, int) else None,
        total=total if isinstance(total, int) else None,
        message=message,
        error=error,
        report=report,
    )


def run_index_job(files: list[str], snapshot_root: str, model: str, workers: int) -> dict[str, Any]:
    """The job body, run in the worker: index the files, publish a snapshot, return the report."""
    from indexer.pipeline import IndexOptions, index

    job = get_current_job()
    tell = _progress_saver(job) if job is not None else None
    if job is not None:  # the job's log lines carry the id of the request that submitted it
        request_id.set(job.meta.get("request_id"))
        log.info("index job %s: %d files into %s", job.id, len(files), snapshot_root)
    return index(Path(snapshot_root), files, model, IndexOptions(workers=workers, on_progress=tell))


def _progress_saver(job: Job) -> Callable[[int, int], None]:
    """A progress callback writing done/total into the job's meta (best effort: Redis errors are ignored)."""

    def save(done: int, total: int) -> None:
        job.meta.update(progress=done / total if total else 1.0, done=done, total=total)
        with contextlib.suppress(redis.RedisError, OSError):
            job.save_meta()

    return save


def run_worker(settings: Settings, burst: bool = False) -> None:
    """`kairos worker`: run index jobs from Redis until stopped (or until the queue is empty with `burst`)."""
    logging.config.dictConfig(log_config(settings.log_json))
    connection = redis.Redis.from_url(settings.redis_url)
    worker = Worker(
        [queue(settings, connection)], connection=connection, job_monitoring_interval=JOB_MONITORING_S
    )
    worker.work(burst=burst, with_scheduler=False)
