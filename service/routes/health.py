"""`GET /healthz` (process up), `GET /readyz` (loaded; Redis ok or degraded), `GET /metrics`."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.metrics import Metrics
from service.routes.deps import Services
from service.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Ready: model loaded (snapshot null until the first index job); Redis down means degraded",
    responses={503: {"model": Readiness, "description": "Not ready: still starting"}},
)
async def readyz(request: Request, response: Response) -> Readiness:
    services: Services | None = getattr(request.app.state, "services", None)
    redis_ok = services is not None and await asyncio.to_thread(services.cache.ping)
    redis: Literal["ok", "down"] = "ok" if redis_ok else "down"
    if services is None:
        response.status_code = 503
        return Readiness(status="not_ready", snapshot=None, redis=redis)
    # An empty deployment is ready: it answers, and its first index job publishes the first snapshot.
    snapshot = services.snapshots.current
    version = snapshot.version if snapshot is not None else None
    return Readiness(status="ready" if redis_ok else "degraded", snapshot=version, redis=redis)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
