"""Service fixtures: settings over the test corpus, an in-process client, a real uvicorn server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import TINY_MODEL, Corpus, free_port

API_KEY = "test-key-123"
AUTH = {"X-API-Key": API_KEY}


@pytest.fixture(scope="session")
def make_settings(corpus: Corpus, redis_url: str) -> Callable[..., Settings]:
    """Settings over the test corpus; keyword arguments override fields."""

    def make(**overrides: Any) -> Settings:
        fields: dict[str, Any] = {
            "snapshot_root": corpus.root,
            "model": TINY_MODEL,
            "redis_url": redis_url,
            "api_key": API_KEY,
            "allowed_roots": [corpus.folder],
            "reload_interval_s": 0.2,
        }
        return Settings(**(fields | overrides))

    return make


@pytest.fixture(scope="session")
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """One app (lifespan run) over the shared, read-only test snapshot."""
    with TestClient(create_app(make_settings()), raise_server_exceptions=False) as test_client:
        yield test_client


class LiveServer:
    """A real uvicorn server in a thread, on a free port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_server(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    with LiveServer(create_app(make_settings())) as server:
        yield server


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as session:
        yield session


@pytest.fixture
def private_root(corpus: Corpus, tmp_path: Path) -> Path:
    """A copy of the test snapshot root that a test may change (delete videos, publish)."""
    return corpus.copy_root(tmp_path / "index")


class Answer(Protocol):
    """An HTTP response of httpx or of the test client."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


def assert_error(response: Answer, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the one error shape, with this status (and code), carries the request id of its
    `X-Request-ID` header, and leaks no path or trace."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "field", "request_id"} and error["message"], body
    assert error["request_id"] == response.headers["x-request-id"], body
    if code is not None:
        assert error["code"] == code, body
    assert "Traceback" not in response.text and "/tmp/" not in response.text and "/work/" not in response.text
    return dict(error)
