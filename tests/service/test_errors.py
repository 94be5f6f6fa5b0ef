"""Every 4xx path answers the one error shape, with a message a person can act on and no path or trace."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from service.app import Limits, create_app
from service.metrics import Metrics
from service.settings import Settings
from tests.service.conftest import AUTH, assert_error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "query"),
        ({"query": ""}, "query"),
        ({"query": "x" * 501}, "query"),
        ({"query": "ok", "top_k_videos": 1001}, "top_k_videos"),
        ({"query": "ok", "limit": 0}, "limit"),
        ({"query": "ok", "limit": 101}, "limit"),
        ({"query": "ok", "limit": "ten"}, "limit"),
        ({"query": "ok", "surprise": 1}, "surprise"),
        ({"query": "ok", "min_seconds": 5, "max_seconds": 2}, None),
        ({"query": "ok", "max_seconds": 1.0}, "max_seconds"),
        ({"query": "ok", "video_ids": ["no-such-video"]}, "video_ids.0"),
    ],
)
def test_bad_search_bodies(client: TestClient, body: dict[str, object], field: str | None) -> None:
    error = assert_error(client.post("/v1/search", json=body), 422)
    assert error.get("field") == field


def test_not_json_unknown_routes_and_methods(client: TestClient) -> None:
    assert_error(
        client.post("/v1/search", content=b"{not json", headers={"Content-Type": "application/json"}), 422
    )
    assert_error(client.post("/v1/search", json=["a", "list"]), 422)
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.get("/static/missing.js"), 404)
    assert_error(client.put("/v1/search", json={"query": "x"}), 405)
    assert_error(client.get("/v1/videos", params={"limit": 0}), 422)


def test_unknown_video_everywhere(client: TestClient) -> None:
    assert_error(client.get("/v1/videos/nope"), 404, "video_not_found")
    assert_error(client.get("/v1/videos/nope/media"), 404, "video_not_found")
    assert_error(client.get("/v1/videos/nope/thumbnail"), 404, "video_not_found")
    assert_error(client.post("/v1/videos/nope/localize", json={"query": "x"}), 404, "video_not_found")
    assert_error(client.delete("/v1/videos/nope", headers=AUTH), 404, "video_not_found")
    assert_error(client.get("/v1/index/jobs/no-such-job"), 404, "job_not_found")


def test_media_ranges_and_thumbnail_bounds(client: TestClient) -> None:
    video = client.get("/v1/videos").json()["videos"][0]
    url = f"/v1/videos/{video['video_id']}/media"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    error = assert_error(client.get(url, headers={"Range": f"bytes={len(whole.content)}-"}), 416)
    assert error["code"] == "range_not_satisfiable"
    assert_error(client.get(url, headers={"Range": "pages=1-2"}), 400, "bad_range")
    assert_error(client.get(url, headers={"Range": "bytes=9-3"}), 400, "bad_range")
    thumb = client.get(f"/v1/videos/{video['video_id']}/thumbnail", params={"t": 1.0})
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert_error(client.get(f"/v1/videos/{video['video_id']}/thumbnail", params={"t": 99999}), 422)
    assert_error(client.get(f"/v1/videos/{video['video_id']}/thumbnail", params={"t": -1}), 422)


def test_body_size_limit(client: TestClient) -> None:
    huge = b'{"query": "' + b"x" * 70_000 + b'"}'
    assert_error(client.post("/v1/search", content=huge, headers={"Content-Type": "application/json"}), 413)


def test_write_endpoints_need_the_key(client: TestClient) -> None:
    video = client.get("/v1/videos").json()["videos"][0]["video_id"]
    for headers in (
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic x"},
    ):
        assert_error(client.delete(f"/v1/videos/{video}", headers=headers), 401, "unauthorized")
        assert_error(client.post("/v1/index/jobs", json={"paths": ["videos"]}, headers=headers), 401)
    assert client.get(f"/v1/videos/{video}").status_code == 200  # nothing was deleted


def test_lower_configured_limits_and_no_snapshot(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(max_query_chars=10, max_limit=5, snapshot_root=tmp_path / "empty")
    with TestClient(create_app(settings)) as local:
        assert_error(local.post("/v1/search", json={"query": "ok"}), 503, "no_snapshot")
        ready = local.get("/readyz")  # an empty deployment is ready (compose's health check needs it)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "snapshot": None, "redis": "ok"}
        assert local.get("/healthz").json() == {"status": "ok"}
    with TestClient(create_app(make_settings(max_query_chars=10, max_limit=5))) as local:
        assert_error(local.post("/v1/search", json={"query": "a" * 11}), 422)
        assert_error(local.post("/v1/search", json={"query": "ok", "limit": 6}), 422)


def test_in_flight_limit(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(max_in_flight=1))
    with TestClient(app) as local:
        limits: Any = app.middleware_stack
        while limits is not None and not isinstance(limits, Limits):
            limits = getattr(limits, "app", None)
        assert isinstance(limits, Limits)
        limits.in_flight = 1  # one request is being served
        busy = local.get("/v1/videos")
        assert_error(busy, 503, "busy")
        assert busy.headers["retry-after"] == "1"
        assert local.get("/healthz").status_code == 200  # probes are never shed
        limits.in_flight = 0
        assert local.get("/v1/videos").status_code == 200


async def receive() -> Message:
    """A request with an empty body, as the ASGI server hands it to the middleware."""
    return {"type": "http.request", "body": b"", "more_body": False}


def test_a_slot_is_free_once_the_response_is_sent() -> None:
    """A client that sends its next request as soon as it has the answer is not shed (max_in_flight 1)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limits = Limits(app, max_in_flight=1, max_body=1024, metrics=Metrics())
    statuses: list[int] = []

    def client(depth: int) -> Send:
        async def received(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            elif depth < 3:  # the whole answer is here: ask again before the server has returned
                await limits(scope, receive, client(depth + 1))

        return received

    scope: Scope = {"type": "http", "method": "GET", "path": "/v1/videos"}
    asyncio.run(limits(scope, receive, client(0)))
    assert statuses == [200, 200, 200, 200] and limits.in_flight == 0


def test_a_probe_in_flight_takes_no_slot() -> None:
    """A /readyz being answered while the server is full does not shed a client's search (max_in_flight 1)."""
    statuses: list[tuple[str, int]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/readyz":  # the probe is still being answered when the search arrives
            await limits(search, receive, record("/v1/search"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def record(path: str) -> Send:
        async def received(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append((path, message["status"]))

        return received

    limits = Limits(app, max_in_flight=1, max_body=1024, metrics=Metrics())
    probe: Scope = {"type": "http", "method": "GET", "path": "/readyz"}
    search: Scope = {"type": "http", "method": "GET", "path": "/v1/search"}
    asyncio.run(limits(probe, receive, record("/readyz")))
    assert statuses == [("/v1/search", 200), ("/readyz", 200)] and limits.in_flight == 0
