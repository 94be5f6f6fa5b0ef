"""Fault scenarios of benchmarks/faults.py, smaller: Redis outage and publishes under load, worker killed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from benchmarks import faults
from indexer.snapshot import delete, open_snapshot
from service.app import create_app
from service.settings import Settings
from tests.conftest import Corpus, missing
from tests.service.conftest import assert_error


@pytest.fixture
def redis_server() -> None:
    """The tests that stop and start Redis need the `redis-server` binary."""
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed: cannot stop and restart a Redis")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "a red circle", "limit": True}, "limit"),
        ({"query": "a red circle", "top_k_videos": False}, "top_k_videos"),
        ({"query": "a red circle", "limit": 2.0}, "limit"),
        ({"query": "a red circle", "limit": "3"}, "limit"),
        ({"query": "a red circle", "min_seconds": True}, "min_seconds"),
    ],
)
def test_booleans_floats_and_strings_are_not_ints(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    """Regression: pydantic's lax mode took `"limit": true` as 1."""
    error = assert_error(client.post("/v1/search", json=body), 422)
    assert error["field"] == field, error


def test_integral_numbers_still_accepted(client: TestClient) -> None:
    answer = client.post("/v1/search", json={"query": "a red circle", "limit": 3, "min_seconds": 1})
    assert answer.status_code == 200, answer.text


@pytest.mark.usefixtures("redis_server")
def test_redis_stopped_under_load(private_root: Path, tmp_path: Path) -> None:
    outcome = faults.redis_outage(private_root, tmp_path, clients=8, phase_s=2.0)
    assert outcome["failed"] == 0 and outcome["down"]["cached"] == 0 and outcome["after"]["cached"] > 0


def test_publish_while_sixteen_clients_search(private_root: Path, tmp_path: Path, redis_url: str) -> None:
    outcome = faults.publish_under_load(private_root, tmp_path, redis_url, clients=16, publishes=2, gap_s=1.0)
    assert outcome["inconsistent"] == 0 and outcome["versions_seen"] == 3


def test_read_only_root_keeps_the_old_snapshot(
    make_settings: Callable[..., Settings], private_root: Path, corpus: Corpus
) -> None:
    """Indexing into a read-only root fails clearly; the app keeps serving the snapshot it has."""
    from indexer.pipeline import IndexOptions, index
    from indexer.snapshot import SnapshotError

    video = next(iter(open_snapshot(private_root).video_ids))
    version = delete(private_root, [video]).version
    with TestClient(create_app(make_settings(snapshot_root=private_root))) as client:
        with faults.read_only(private_root), pytest.raises(SnapshotError, match="not writable"):
            index(private_root, [str(corpus.videos)], "kairos-tiny", IndexOptions())
        assert client.get("/readyz").json()["snapshot"] == version
        assert client.post("/v1/search", json={"query": "a red circle"}).status_code == 200


def test_disk_full_during_publish(private_root: Path, tmp_path: Path) -> None:
    if not faults.can_mount():
        missing("needs root and `mount -t tmpfs` for a small disk")
    outcome = faults.full_publish(private_root, tmp_path)
    assert "no space left on device" in outcome["publish_error"]


@pytest.mark.usefixtures("redis_server")
def test_worker_killed_during_a_job(private_root: Path, corpus: Corpus, tmp_path: Path) -> None:
    """The work-horse killed mid-job: the job is retried and finishes; killed on every try: failed."""
    videos = sorted(corpus.videos.glob("*.mp4"))
    delete(private_root, [v.stem for v in videos[1:]])
    outcome = faults.worker_killed(private_root, videos, tmp_path, whole_worker=False)
    assert outcome["horse_killed"]["final"] == "finished"
    assert outcome["horse_killed_every_try"]["final"] == "failed"


@pytest.mark.usefixtures("redis_server")
def test_a_throwaway_redis_started_then_entered_is_stopped_once(tmp_path: Path) -> None:
    # `with RedisServer(...).start()` used to start a second server; the first outlived the scenario (leak)
    with faults.RedisServer(tmp_path).start() as redis:
        first = redis.process
        assert first is not None and redis.answers()
    assert first.poll() is not None and not redis.answers()
