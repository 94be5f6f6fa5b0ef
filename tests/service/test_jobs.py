"""Index jobs: paths confined to the allowed roots, run by a real rq worker, failures reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.jobs import confine
from service.settings import Settings
from tests.conftest import Corpus
from tests.service.conftest import AUTH, assert_error


@pytest.fixture
def jail(tmp_path: Path, corpus: Corpus) -> tuple[Path, Path]:
    """An allowed root with one video, and a video outside it."""
    root, outside = tmp_path / "allowed", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    video = next(corpus.videos.glob("*.mp4"))
    (root / "a.mp4").write_bytes(video.read_bytes())
    (outside / "secret.mp4").write_bytes(video.read_bytes())
    return root, outside


def test_confine_refuses_escapes(jail: tuple[Path, Path]) -> None:
    root, outside = jail
    assert confine(["a.mp4"], [root]) == [str(root / "a.mp4")]
    assert confine([str(root)], [root]) == [str(root / "a.mp4")]
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "sub").mkdir()
    (root / "sub" / "b.mp4").write_bytes(b"")
    (root / "sub" / "b.srt").symlink_to("/etc/passwd")
    (root / "out").symlink_to(outside)
    escapes = [
        "../outside/secret.mp4",
        str(outside / "secret.mp4"),
        str(root / ".." / "outside" / "secret.mp4"),
        "link.mp4",
        "out/secret.mp4",
        "sub",
        "*.mp4",
        "list.jsonl",
        "missing.mp4",
        "",
    ]
    for path in escapes:
        with pytest.raises(Exception, match="paths.0") as caught:
            confine([path], [root])
        assert getattr(caught.value, "status", None) == 422, path
    with pytest.raises(Exception, match="KAIROS_ALLOWED_ROOTS"):
        confine(["a.mp4"], [])


def test_job_api_refuses_escapes(make_settings: Callable[..., Settings], jail: tuple[Path, Path]) -> None:
    root, outside = jail
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    with TestClient(create_app(make_settings(allowed_roots=[root]))) as client:
        for path in ("../outside/secret.mp4", str(outside), "link.mp4", "/etc/passwd"):
            error = assert_error(client.post("/v1/index/jobs", json={"paths": [path]}, headers=AUTH), 422)
            assert error["field"] == "paths.0" and "outside" not in error["message"].replace(
                "outside the", ""
            )
    with TestClient(create_app(make_settings(allowed_roots=[]))) as client:
        assert_error(client.post("/v1/index/jobs", json={"paths": ["a.mp4"]}, headers=AUTH), 403)


def test_jobs_run_in_a_worker(
    make_settings: Callable[..., Settings], private_root: Path, jail: tuple[Path, Path], redis_url: str
) -> None:
    root, _ = jail
    queue = f"kairos-test-{os.getpid()}-{time.monotonic_ns()}"
    settings = make_settings(snapshot_root=private_root, allowed_roots=[root], queue_name=queue)
    with TestClient(create_app(settings)) as client:
        submitted = client.post(
            "/v1/index/jobs", json={"paths": ["a.mp4"]}, headers=AUTH | {"X-Request-ID": "j-1"}
        )
        assert submitted.status_code == 202, submitted.text
        job = submitted.json()
        assert job["state"] == "queued" and job["message"]
        (root / "b.mp4").write_bytes(b"not a video")
        broken = client.post("/v1/index/jobs", json={"paths": ["b.mp4"]}, headers=AUTH).json()
        (root / "b.mp4").unlink()  # gone before the worker runs: the job fails, reported, never stuck
        (root / "empty").mkdir()
        assert_error(client.post("/v1/index/jobs", json={"paths": ["empty"]}, headers=AUTH), 422, "no_videos")
        env = os.environ | {
            "KAIROS_REDIS_URL": redis_url,
            "KAIROS_QUEUE_NAME": queue,
            "KAIROS_LOG_JSON": "true",
        }
        code = "from service.jobs import run_worker; from service.settings import Settings; "
        code += "run_worker(Settings(), burst=True)"
        worker = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, timeout=300, capture_output=True, text=True
        )
        first = client.get(f"/v1/index/jobs/{job['id']}").json()
        second = client.get(f"/v1/index/jobs/{broken['id']}").json()
    assert first["state"] == "finished" and first["progress"] == 1.0 and first["report"]["version"], first
    lines = [json.loads(line) for line in worker.stderr.splitlines() if line.startswith("{")]
    assert any(line["request_id"] == "j-1" and job["id"] in line["message"] for line in lines), worker.stderr
    assert second["state"] in ("finished", "failed"), second
    if second["state"] == "finished":
        assert second["report"]["counts"]["failed"] == 1
    else:
        assert second["error"]
