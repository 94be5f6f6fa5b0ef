"""The FastAPI app: factory, lifespan (model, snapshot, Redis loaded once), hot reload, limits at the door."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import faiss
import torch
import transformers
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.model import KairosModel
from models.pretrained import model_fingerprint, resolve_model
from service import errors
from service.cache import Cache, connect
from service.logs import RequestIds, log_config
from service.metrics import Metrics
from service.ratelimit import RateLimiter
from service.routes import health, jobs, page, search, videos
from service.routes.deps import Services, SnapshotHolder
from service.search import SearchPipeline
from service.settings import Settings

log = logging.getLogger(__name__)
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Probes and metrics are cheap and never shed: a liveness check failing under load would get a busy but
# healthy server restarted (the Docker HEALTHCHECK uses /healthz, compose uses /readyz).
NEVER_SHED = frozenset({"/healthz", "/readyz", "/metrics"})


def one_thread_per_library() -> None:
    """Torch and FAISS each on one thread: parallelism comes from processes (see DESIGN.md)."""
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
        torch.set_num_interop_threads(1)
    faiss.omp_set_num_threads(1)


class Limits:
    """ASGI middleware: at most `max_in_flight` requests at once (503 + Retry-After, nothing queued beyond
    that; probes in NEVER_SHED are always let through and take no slot), bodies of at most `max_body`
    bytes (413)."""

    def __init__(self, app: ASGIApp, max_in_flight: int, max_body: int, metrics: Metrics) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_body = max_body
        self.metrics = metrics
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = scope["path"] not in NEVER_SHED  # a probe neither waits for a slot nor takes one
        if counted and self.in_flight >= self.max_in_flight:
            self.metrics.rejected.labels(reason="busy").inc()
            await self._refuse(scope, receive, send, 503, "busy", "too many requests at once; retry shortly")
            return
        self.in_flight += counted
        status, released = 500, not counted

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight -= 1

        try:
            if scope["method"] in BODY_METHODS:
                body = await self._read_body(receive)
                if body is None:
                    self.metrics.rejected.labels(reason="body_too_large").inc()
                    message = f"the request body is larger than {self.max_body} bytes"
                    await self._refuse(scope, receive, send, 413, "body_too_large", message)
                    status = 413
                    return
                receive = _replay(body, receive)

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body" and not message.get("more_body", False):
                    release()  # the work is done; once the client has it, it may send its next request
                await send(message)

            await self.app(scope, receive, send_status)
        finally:
            release()
            route = scope.get("route")
            self.metrics.requests.labels(route=getattr(route, "path", "unmatched"), status=str(status)).inc()

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body (bodies are small), or None once it passes the limit."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
    ) -> None:
        headers = {"Retry-After": "1"} if status == 503 else None
        await errors.error_response(status, code, message, headers=headers)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def watch_snapshots(holder: SnapshotHolder, interval_s: float) -> None:
    """Poll CURRENT; load a new snapshot off the event loop and swap it in (hot reload)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(holder.refresh)
        except Exception as exc:  # a broken snapshot must not stop the server; it is logged once per version
            log.error("cannot load the new snapshot, still serving the previous one: %s", exc)


@functools.lru_cache(maxsize=2)
def load_model(spec: str, device: str) -> tuple[KairosModel, str]:
    """The model (eval mode, text encoder warmed up) and its fingerprint; loaded once per process and spec."""
    model = resolve_model(spec).to(device).eval()
    model.text_encoder.warmup()
    return model, model_fingerprint(model)


def load_services(settings: Settings, metrics: Metrics) -> Services:
    """Model, Redis client, cache, snapshot and pipeline, loaded once (blocking)."""
    one_thread_per_library()
    model, fingerprint = load_model(settings.model, settings.device)
    client = connect(settings.redis_url, settings.redis_timeout_s)
    cache = Cache(client, metrics, settings.cache_ttl_s, settings.redis_retry_s)
    holder = SnapshotHolder(settings.snapshot_root, fingerprint, metrics)
    if not holder.refresh():
        log.warning("no snapshot published under %s yet; waiting for one", settings.snapshot_root)
    pipeline = SearchPipeline(model, fingerprint, cache, metrics, settings)
    limiter = (
        RateLimiter(client, settings.rate_limit_per_s, settings.rate_limit_burst, settings.redis_retry_s)
        if settings.rate_limit_per_s > 0
        else None
    )
    return Services(settings, metrics, client, cache, holder, pipeline, limiter)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services = await asyncio.to_thread(load_services, app.state.settings, app.state.metrics)
    app.state.services = services
    watcher = asyncio.create_task(watch_snapshots(services.snapshots, services.settings.reload_interval_s))
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        services.redis.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The Kairos API; settings come from `KAIROS_*` environment variables unless given."""
    settings = settings or Settings()
    metrics = Metrics()
    app = FastAPI(
        title="Kairos",
        version="1.0.0",
        summary="Find the moments in a video collection that match a sentence.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    errors.install(app)
    app.add_middleware(
        Limits, max_in_flight=settings.max_in_flight, max_body=settings.max_body_bytes, metrics=metrics
    )
    app.add_middleware(RequestIds)  # outermost: even a request shed by Limits gets its id
    for module in (search, videos, jobs, health, page):
        app.include_router(module.router)
    page.mount_static(app)
    return app


class ExposureError(ValueError):
    """Serving beyond loopback with the write endpoints open, and no explicit opt-out."""


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the API with uvicorn until interrupted; an unsafe host is refused (ExposureError) first.

    With several workers, each is a process of its own (one thread per library in each, as DESIGN.md asks)
    that builds its settings from the `KAIROS_*` environment, loads the model and maps the same snapshot;
    `max_in_flight` then holds per process.
    """
    problem = settings.exposure_problem(host)
    if problem is not None:
        raise ExposureError(problem)
    logging_config = log_config(settings.log_json)
    if settings.log_json:  # stderr holds JSON lines only: no progress bars (here and in worker processes)
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        transformers.utils.logging.disable_progress_bar()
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=logging_config)
        return
    os.environ["KAIROS_SNAPSHOT_ROOT"] = str(settings.snapshot_root)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=logging_config,
    )
