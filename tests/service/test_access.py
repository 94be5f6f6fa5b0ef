"""Keys, rate limits (Redis; per process while it is down), request ids, `kairos serve`'s host check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.settings import Settings
from tests.conftest import TINY_MODEL, free_port
from tests.service.conftest import API_KEY, AUTH, assert_error

KAIROS = str(Path(sys.executable).with_name("kairos"))


def fresh_key() -> dict[str, str]:
    """A read key of its own per test run, so its bucket in the shared Redis starts full."""
    return {"X-API-Key": f"reader-{uuid.uuid4().hex}"}


@pytest.fixture
def limited(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Test clients over apps with read keys and a slow token bucket (burst 3, one token per 10 s)."""
    opened: list[TestClient] = []

    def make(keys: list[str], **overrides: object) -> TestClient:
        fields = {"read_api_keys": keys, "rate_limit_per_s": 0.1, "rate_limit_burst": 3} | overrides
        settings = make_settings(**fields)
        opened.append(TestClient(create_app(settings)).__enter__())
        return opened[-1]

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def test_read_keys_guard_the_read_endpoints(limited: Callable[..., TestClient]) -> None:
    reader = fresh_key()
    client = limited([reader["X-API-Key"]], rate_limit_per_s=0)
    assert_error(client.get("/v1/videos"), 401, "unauthorized")
    assert_error(client.get("/v1/videos", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    assert client.get("/v1/videos", headers=reader).status_code == 200
    assert client.get("/v1/videos", headers=AUTH).status_code == 200  # the write key reads too
    video = client.get("/v1/videos", headers=reader).json()["videos"][0]["video_id"]
    assert_error(client.delete(f"/v1/videos/{video}", headers=reader), 401, "unauthorized")
    for probe in ("/healthz", "/readyz", "/metrics", "/"):
        assert client.get(probe).status_code == 200, probe


def test_rate_limit_per_key_is_shared_through_redis(limited: Callable[..., TestClient]) -> None:
    one, two = fresh_key(), fresh_key()
    keys = [one["X-API-Key"], two["X-API-Key"]]
    replica_a, replica_b = limited(keys), limited(keys)
    assert [replica_a.get("/v1/videos", headers=one).status_code for _ in range(3)] == [200] * 3
    refused = replica_b.get("/v1/videos", headers=one)  # another replica: the same bucket, in Redis
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    assert replica_b.get("/v1/videos", headers=two).status_code == 200  # another key, its own bucket
    assert 'kairos_http_rejected_total{reason="rate_limited"} 1.0' in replica_b.get("/metrics").text


def test_rate_limit_falls_back_to_the_process_when_redis_is_down(limited: Callable[..., TestClient]) -> None:
    reader = fresh_key()
    client = limited([reader["X-API-Key"]], redis_url=f"redis://127.0.0.1:{free_port()}/0")
    answers = [client.post("/v1/search", json={"query": "a red circle"}, headers=reader) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200] * 3
    assert_error(answers[3], 429, "rate_limited")


@pytest.fixture
def failing_app(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    app: FastAPI = create_app(make_settings())

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/test-boom", boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_request_ids_are_echoed_or_made_and_in_every_error(failing_app: TestClient) -> None:
    given = failing_app.get("/healthz", headers={"X-Request-ID": "abc-123:x.y_z"})
    assert given.headers["x-request-id"] == "abc-123:x.y_z"
    made = failing_app.get("/healthz").headers["x-request-id"]
    assert len(made) == 32 and made != failing_app.get("/healthz").headers["x-request-id"]
    for hostile in ("a" * 129, "new\\nline", "spaces are not ids"):
        echoed = failing_app.get("/healthz", headers={"X-Request-ID": hostile}).headers["x-request-id"]
        assert echoed != hostile and len(echoed) == 32
    error = assert_error(failing_app.get("/v1/nope", headers={"X-Request-ID": "r-404"}), 404)
    assert error["request_id"] == "r-404"
    crash = failing_app.get("/v1/test-boom", headers={"X-Request-ID": "r-500"})
    assert assert_error(crash, 500, "internal_error")["request_id"] == "r-500"


@pytest.mark.parametrize(
    ("host", "key", "opt_out", "refused"),
    [
        ("127.0.0.1", None, False, False),
        ("localhost", None, False, False),
        ("::1", None, False, False),
        ("0.0.0.0", None, False, True),
        ("::", None, False, True),
        ("10.1.2.3", None, False, True),
        ("api.example.org", None, False, True),
        ("0.0.0.0", "k", False, False),
        ("0.0.0.0", None, True, False),
    ],
)
def test_exposure_needs_a_key_or_an_explicit_opt_out(
    host: str, key: str | None, opt_out: bool, refused: bool
) -> None:
    settings = Settings(api_key=SecretStr(key) if key else None, insecure_no_auth=opt_out)
    problem = settings.exposure_problem(host)
    assert (problem is not None) == refused and (problem is None or "KAIROS_API_KEY" in problem)


def server_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIROS_")}
    return env | {"KAIROS_MODEL": TINY_MODEL, "KAIROS_REDIS_URL": redis_url, "OMP_NUM_THREADS": "1"} | extra


def test_serve_beyond_loopback_without_a_key_refuses_to_start(tmp_path: Path, redis_url: str) -> None:
    command = [KAIROS, "serve", "--snapshot-root", str(tmp_path), "--host", "0.0.0.0", "--port", "1"]
    done = subprocess.run(command, env=server_env(redis_url), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "refusing to listen on '0.0.0.0'" in done.stderr and "--insecure-no-auth" in done.stderr


def test_a_real_server_on_all_interfaces_logs_json_with_request_ids(tmp_path: Path, redis_url: str) -> None:
    """A fresh deployment (no snapshot) is ready; each log line is JSON with the request id; no key leaks."""
    port = free_port()
    env = server_env(redis_url, KAIROS_API_KEY=API_KEY, KAIROS_LOG_JSON="true", KAIROS_QUERY_ENCODER="torch")
    command = [KAIROS, "serve", "--snapshot-root", str(tmp_path / "empty"), "--host", "0.0.0.0"]
    server = subprocess.Popen([*command, "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.3)
        assert ready.status_code == 200 and ready.json()["snapshot"] is None
        search = httpx.post(f"{base}/v1/search", json={"query": "x"}, headers={"X-Request-ID": "r-1"})
        assert assert_error(search, 503, "no_snapshot")["request_id"] == "r-1"
        assert_error(httpx.delete(f"{base}/v1/videos/x", headers={"X-API-Key": "not-it"}), 401)
        assert_error(httpx.delete(f"{base}/v1/videos/x", headers=AUTH | {"X-Request-ID": "r-2"}), 503)
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    by_id = {line["request_id"]: line["message"] for line in lines if line["logger"] == "uvicorn.access"}
    assert "POST /v1/search" in by_id["r-1"] and "DELETE /v1/videos/x" in by_id["r-2"]
    assert API_KEY not in stderr and "not-it" not in stderr
