"""What routes receive: the app's services from `app.state`, as typed dependencies tests can override."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import redis
from fastapi import Depends, Header, Request

from indexer.snapshot import Snapshot, open_snapshot
from indexer.snapshot.layout import read_current, version_seq
from service.cache import Cache
from service.errors import ApiError
from service.metrics import Metrics
from service.ratelimit import RateLimiter, retry_after
from service.search import SearchPipeline
from service.settings import Caller, Settings

log = logging.getLogger(__name__)


class SnapshotHolder:
    """The snapshot served: one reference, swapped whole when CURRENT moves; callers keep what they took."""

    def __init__(self, root: Path, model_hash: str, metrics: Metrics) -> None:
        self.root = root
        self.model_hash = model_hash
        self.metrics = metrics
        self.current: Snapshot | None = None
        self._failed: str | None = None  # a version that failed to open is not retried until CURRENT moves
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Load the snapshot CURRENT names when it differs from the one served; True when it swapped."""
        with self._lock:
            version = read_current(self.root)
            if version is None or version == self._failed:
                return False
            if self.current is not None and self.current.version == version:
                return False
            try:
                snapshot = open_snapshot(self.root, expected_model_hash=self.model_hash)
            except Exception:
                self._failed = version
                self.metrics.reloads.labels(result="error").inc()
                raise
            self.current = snapshot  # one reference assignment: requests in flight keep the old object
            self.metrics.reloads.labels(result="ok").inc()
            self.metrics.set_snapshot(snapshot.version, version_seq(snapshot.version) or 0)
            log.info("serving snapshot %s (%d videos)", snapshot.version, len(snapshot))
            return True


@dataclass
class Services:
    """Everything the lifespan loads once; `app.state.services`."""

    settings: Settings
    metrics: Metrics
    redis: redis.Redis
    cache: Cache
    snapshots: SnapshotHolder
    pipeline: SearchPipeline
    limiter: RateLimiter | None = None  # None: rate limits are off


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise ApiError(503, "starting", "the service is starting; retry in a few seconds")
    return services


def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


def get_pipeline(services: Annotated[Services, Depends(get_services)]) -> SearchPipeline:
    return services.pipeline


def get_snapshot(services: Annotated[Services, Depends(get_services)]) -> Snapshot:
    """The snapshot this request runs on, taken once at its start."""
    snapshot = services.snapshots.current
    if snapshot is None:
        raise ApiError(503, "no_snapshot", "no snapshot is published yet: index some videos first")
    return snapshot


def get_caller(
    settings: Annotated[Settings, Depends(get_settings)],
    x_api_key: Annotated[
        str | None, Header(description="The API key (or send Authorization: Bearer).")
    ] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Caller:
    """The presented key (`X-API-Key: KEY` or `Authorization: Bearer KEY`), checked once per request."""
    key = x_api_key
    if key is None and authorization is not None and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    return settings.caller(key)


def _unauthorized() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "this endpoint needs the API key: send it as X-API-Key or Authorization: Bearer",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_read(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    caller: Annotated[Caller, Depends(get_caller)],
) -> None:
    """Every /v1 endpoint: a read key when read keys are configured, then the caller's rate limit."""
    if not services.settings.can_read(caller):
        raise _unauthorized()
    if services.limiter is None:
        return
    bucket = caller.bucket or f"ip:{request.client.host if request.client else 'unknown'}"
    wait = services.limiter.wait(bucket)
    if wait > 0:
        services.metrics.rejected.labels(reason="rate_limited").inc()
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this key; retry in {retry_after(wait)} s",
            headers={"Retry-After": retry_after(wait)},
        )


def require_api_key(
    settings: Annotated[Settings, Depends(get_settings)], caller: Annotated[Caller, Depends(get_caller)]
) -> None:
    """Write endpoints: the configured write key (any caller when none is configured)."""
    if settings.api_key is not None and caller.role != "write":
        raise _unauthorized()


def check_limits(settings: Settings, query: str, limit: int | None = None, top_k: int | None = None) -> None:
    """Apply the configured limits where they are lower than the schema's caps."""
    if len(query) > settings.max_query_chars:
        raise ApiError(
            422, "invalid_request", f"query is longer than {settings.max_query_chars} characters", "query"
        )
    if limit is not None and limit > settings.max_limit:
        raise ApiError(422, "invalid_request", f"limit must be at most {settings.max_limit}", "limit")
    if top_k is not None and top_k > settings.max_top_k_videos:
        raise ApiError(
            422,
            "invalid_request",
            f"top_k_videos must be at most {settings.max_top_k_videos}",
            "top_k_videos",
        )


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[SearchPipeline, Depends(get_pipeline)]
SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]
ReadAccess = Depends(require_read)
WriteAccess = Depends(require_api_key)
