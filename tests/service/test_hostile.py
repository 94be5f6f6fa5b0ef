"""Hostile input and overload: every bad request is a 4xx in the one error shape (or a correct answer),
never a 500, a stack trace or a file-system path; a flood beyond `max_in_flight` is shed with 503 +
Retry-After instead of queuing."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service import settings as settings_module
from service.app import NEVER_SHED, create_app
from service.settings import Settings
from tests.service.conftest import API_KEY, AUTH, LiveServer, assert_error

JSON = {"Content-Type": "application/json"}


def post_raw(client: TestClient, url: str, body: bytes, **headers: str) -> Any:
    return client.post(url, content=body, headers=JSON | headers)


@pytest.fixture(scope="module")
def video_id(client: TestClient) -> str:
    return str(client.get("/v1/videos").json()["videos"][0]["video_id"])


# ---------------------------------------------------------------- sizes and shapes


def test_body_over_one_megabyte_is_413(client: TestClient) -> None:
    huge = b'{"query": "' + b"x" * (1 << 20) + b'"}'
    error = assert_error(post_raw(client, "/v1/search", huge), 413, "body_too_large")
    assert "bytes" in error["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds on a streamed body too
        yield b'{"query": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    assert_error(client.post("/v1/search", content=chunks(), headers=JSON), 413, "body_too_large")
    huge_job = json.dumps({"paths": ["v"] * 600_000}).encode()
    assert_error(post_raw(client, "/v1/index/jobs", huge_job, **AUTH), 413, "body_too_large")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000 + b"]" * 30_000,
        b'{"query":' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001,
        b'{"query": "\xff\xfe broken utf-8"}',
    ],
    ids=["deep-array", "deep-object", "invalid-utf8"],
)
def test_unparsable_bodies_are_400_with_a_clear_message(client: TestClient, body: bytes) -> None:
    # regression: these were 400 "Bad Request" with no hint of what to change
    error = assert_error(post_raw(client, "/v1/search", body), 400, "invalid_body")
    assert "JSON" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "x", "video_ids": [[[["a"]]]]}, "video_ids.0"),
        ({"query": {"nested": {"deeper": ["x"]}}}, "query"),
        ({"query": "x", "extra": {"a": [1, 2]}}, "extra"),
        ({"query": "x", "limit": 1.5}, "limit"),
        ({"query": "x", "limit": "ten"}, "limit"),
        ({"query": "x", "limit": int("9" * 400)}, "limit"),
        ({"query": None}, "query"),
        ({"query": 5}, "query"),
        ({"query": ["a"]}, "query"),
        ({"query": "x", "video_ids": {"a": 1}}, "video_ids"),
        ({"query": "x", "min_seconds": "soon"}, "min_seconds"),
    ],
)
def test_unknown_fields_and_wrong_types(client: TestClient, body: dict[str, Any], field: str) -> None:
    error = assert_error(client.post("/v1/search", json=body), 422, "invalid_request")
    assert error.get("field") == field
    assert field in error["message"] or "unknown field" in error["message"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_refused(client: TestClient, literal: bytes) -> None:
    body = b'{"query": "x", "max_seconds": ' + literal + b"}"
    assert_error(post_raw(client, "/v1/search", body), 422, "invalid_request")


def test_wrong_types_on_the_other_endpoints(client: TestClient, video_id: str) -> None:
    assert_error(client.post("/v1/search/videos", json={"query": "x", "limit": []}), 422)
    assert_error(client.post(f"/v1/videos/{video_id}/localize", json={"query": "x", "top": 1}), 422)
    assert_error(client.post("/v1/index/jobs", json={"paths": "videos"}, headers=AUTH), 422)
    assert_error(client.post("/v1/index/jobs", json={"paths": [1, 2]}, headers=AUTH), 422)
    assert_error(client.get("/v1/videos", params={"limit": "many"}), 422)
    assert_error(client.get(f"/v1/videos/{video_id}/thumbnail", params={"t": "nan"}), 422)
    assert_error(client.get(f"/v1/videos/{video_id}/thumbnail", params={"t": "inf"}), 422)


# ---------------------------------------------------------------- unicode


UNICODE_QUERIES = {
    "rtl": "\u202eשלום עולם مرحبا بالعالم",
    "zero-width": "the\u200b chef\u200c flips\u200d the\ufeff pancake",
    "only-zero-width": "\u200b\u200c\u200d\ufeff",
    "emoji": "🍳 👨\u200d🍳 flips the 🥞 🏳️\u200d🌈",
    "nul": "a\x00b",
    "whitespace": "   \t ",
    "combining": "a" + "\u0301" * 499,
    "astral-max": "😀" * 500,
    "bidi-controls": "\u2066\u2067\u2068\u2069\u200e\u200f x",
}


@pytest.mark.parametrize("query", UNICODE_QUERIES.values(), ids=UNICODE_QUERIES.keys())
def test_unicode_queries_answer(client: TestClient, video_id: str, query: str) -> None:
    for url, key in (
        ("/v1/search", "moments"),
        ("/v1/search/videos", "videos"),
        (f"/v1/videos/{video_id}/localize", "moments"),
    ):
        response = client.post(url, json={"query": query})
        assert response.status_code == 200, (url, response.text)
        assert isinstance(response.json()[key], list)


def test_lone_surrogates_are_422(client: TestClient, video_id: str) -> None:
    body = b'{"query": "\\ud800 pancake"}'
    for url in ("/v1/search", "/v1/search/videos", f"/v1/videos/{video_id}/localize"):
        assert_error(post_raw(client, url, body), 422, "invalid_request")


def test_query_length_counts_characters_not_bytes(client: TestClient) -> None:
    assert client.post("/v1/search", json={"query": "é" * 500}).status_code == 200
    assert_error(client.post("/v1/search", json={"query": "😀" * 501}), 422)


@pytest.mark.parametrize(
    "body",
    [b'{"paths": ["\\ud800"]}', b'{"paths": ["videos\\u0000/../../etc"]}'],
    ids=["lone-surrogate", "nul"],
)
def test_job_paths_that_no_file_system_holds(client: TestClient, body: bytes) -> None:
    # regression: a lone surrogate reached Path.resolve() and was a 500 (UnicodeEncodeError)
    error = assert_error(post_raw(client, "/v1/index/jobs", body, **AUTH), 422, "path_refused")
    assert error["field"] == "paths.0"


def test_strange_ids_in_paths(client: TestClient) -> None:
    for url in ("/v1/videos/%00", "/v1/videos/%ff%fe", "/v1/videos/%E2%80%AE", "/v1/index/jobs/%00"):
        response = client.get(url)
        assert response.status_code == 404, (url, response.text)
        assert_error(response, 404)


# ---------------------------------------------------------------- ranges


def test_range_headers_that_used_to_crash(client: TestClient, video_id: str) -> None:
    url = f"/v1/videos/{video_id}/media"
    # regression: int() of a 5,000-digit offset raised ValueError -> 500
    assert_error(client.get(url, headers={"Range": "bytes=" + "9" * 5000 + "-"}), 400, "bad_range")
    # regression: thousands of tiny parts were served as one huge multipart answer
    many = "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(2000))
    assert_error(client.get(url, headers={"Range": many}), 400, "bad_range")
    assert client.get(url, headers={"Range": "bytes=0-0,2-2,4-4"}).status_code == 206


# ---------------------------------------------------------------- the API key


def test_api_key_is_compared_in_constant_time(
    client: TestClient, video_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(settings_module.hmac, "compare_digest", spy)
    keys = [b"wrong", b"", API_KEY[:-1].encode(), API_KEY.encode() + b"x", "ключ-ü".encode()]  # raw UTF-8
    for key in keys:
        response = client.delete(f"/v1/videos/{video_id}", headers={b"X-API-Key": key})
        assert_error(response, 401, "unauthorized")
    assert len(calls) == 5 and all(expected == API_KEY.encode() for _, expected in calls)
    assert client.get(f"/v1/videos/{video_id}").status_code == 200


# ---------------------------------------------------------------- load shedding


def flood_app(make_settings: Callable[..., Settings], limit: int) -> FastAPI:
    """The real app with one extra slow route, so that requests stay in flight long enough to pile up."""
    app = create_app(make_settings(max_in_flight=limit))

    async def slow() -> dict[str, str]:
        await asyncio.sleep(0.4)
        return {"status": "done"}

    app.add_api_route("/v1/test-slow", slow, methods=["GET"])
    return app


async def flood(url: str, path: str, clients: int, **kwargs: Any) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as session:
        if "json" in kwargs:
            calls = [session.post(path, **kwargs) for _ in range(clients)]
        else:
            calls = [session.get(path, **kwargs) for _ in range(clients)]
        probes = [session.get("/healthz"), session.get("/readyz")]
        return list(await asyncio.gather(*calls, *probes))


def test_flood_beyond_max_in_flight_is_shed(make_settings: Callable[..., Settings]) -> None:
    limit, clients = 4, 40
    with LiveServer(flood_app(make_settings, limit)) as server:
        answers = asyncio.run(flood(server.url, "/v1/test-slow", clients))
        slow, probes = answers[:clients], answers[clients:]
        counts = Counter(r.status_code for r in slow)
        assert set(counts) <= {200, 503} and counts[200] >= limit and counts[503] >= clients // 2, counts
        for response in slow:
            if response.status_code == 503:
                assert response.headers["retry-after"].isdigit()
                assert_error(response, 503, "busy")
        # regression: the probes were shed too, so a busy server looked dead to its health check
        assert [p.status_code for p in probes] == [200, 200]
        assert {"/healthz", "/readyz"} <= NEVER_SHED

        # real work, flooded: every answer is a result or a clean 503, never a 5xx of another kind
        searches = asyncio.run(flood(server.url, "/v1/search", clients, json={"query": "a person walks"}))
        counts = Counter(r.status_code for r in searches[:clients])
        assert set(counts) <= {200, 503} and counts[200] >= 1, counts

        # nothing leaked: once the flood is over, the whole budget is free again
        after = asyncio.run(flood(server.url, "/v1/test-slow", limit))
        assert [r.status_code for r in after[:limit]] == [200] * limit
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'kairos_http_rejected_total{reason="busy"}' in metrics
