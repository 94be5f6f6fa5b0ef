"""A new snapshot never serves an old answer; hot reload swaps snapshots; Redis down means degraded."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from indexer.snapshot import delete
from service.app import create_app
from service.settings import Settings
from tests.conftest import ThrowawayRedis
from tests.service.conftest import AUTH


def wait_for(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_delete_and_hot_reload_never_serve_stale(
    make_settings: Callable[..., Settings], private_root: Path
) -> None:
    query = {"query": "a green star jumps over stripes", "limit": 100, "top_k_videos": 10}
    with TestClient(create_app(make_settings(snapshot_root=private_root))) as client:
        before = client.post("/v1/search", json=query).json()
        assert client.post("/v1/search", json=query).json()["cached"] is True
        videos = [v["video_id"] for v in client.get("/v1/videos").json()["videos"]]
        gone = client.delete(f"/v1/videos/{videos[0]}", headers=AUTH)
        assert gone.status_code == 200, gone.text
        assert gone.json()["snapshot"] != before["snapshot"]
        after = client.post("/v1/search", json=query).json()
        assert after["cached"] is False and after["snapshot"] == gone.json()["snapshot"]
        assert videos[0] not in {m["video_id"] for m in after["moments"]}
        assert client.get(f"/v1/videos/{videos[0]}").status_code == 404
        published = delete(private_root, [videos[1]])  # another process publishes: the poller picks it up
        wait_for(lambda: client.get("/readyz").json()["snapshot"] == published.version)
        latest = client.post("/v1/search", json=query).json()
        assert latest["cached"] is False and latest["snapshot"] == published.version
        assert {m["video_id"] for m in latest["moments"]} <= set(videos[2:])
        assert f'kairos_snapshot_info{{version="{published.version}"}} 1.0' in client.get("/metrics").text


def test_redis_killed_mid_test(
    make_settings: Callable[..., Settings], throwaway_redis: Callable[[], ThrowawayRedis]
) -> None:
    server = throwaway_redis()
    query = {"query": "a yellow circle shrinks", "limit": 3}
    with TestClient(create_app(make_settings(redis_url=server.url, redis_retry_s=0.3))) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        first = client.post("/v1/search", json=query).json()
        assert client.post("/v1/search", json=query).json()["cached"] is True
        server.stop()
        started = time.perf_counter()
        for _ in range(5):
            answer = client.post("/v1/search", json=query)
            assert answer.status_code == 200 and answer.json()["cached"] is False
            assert answer.json()["moments"] == first["moments"]
        assert time.perf_counter() - started < 5
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {
            "status": "degraded",
            "snapshot": first["snapshot"],
            "redis": "down",
        }
        assert "kairos_redis_errors_total" in client.get("/metrics").text
        server.start()  # same port: the client reconnects by itself
        wait_for(lambda: client.get("/readyz").json()["status"] == "ready")
        client.post("/v1/search", json=query)
        assert client.post("/v1/search", json=query).json()["cached"] is True
