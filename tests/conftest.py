"""Shared fixtures: real Redis (the shared one, or a throwaway server), a tiny indexed synthetic corpus."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import redis

SHARED_REDIS = "redis://127.0.0.1:6379/0"
TINY_MODEL = "kairos-tiny"
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> NoReturn:
    """A real part the test needs is missing: skip with the reason, or fail when CI=true."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


class ThrowawayRedis:
    """A real `redis-server` on a free port in a temporary folder, for tests that stop and restart it."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("redis-server") is None:
            missing("redis-server is not installed: cannot start a throwaway Redis")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ThrowawayRedis:
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen([*args, "--dir", str(self.folder)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not answers(self.url):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"throwaway redis-server on port {self.port} did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Hugging Face hub offline, its cache an empty folder (returned): a machine with no network."""
    import huggingface_hub

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shared Redis at 127.0.0.1:6379 when it answers, else a throwaway one for the session."""
    if answers(SHARED_REDIS):
        yield SHARED_REDIS
        return
    server = ThrowawayRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[Callable[[], ThrowawayRedis]]:
    """A factory of started throwaway Redis servers; all are stopped at the end of the test."""
    servers: list[ThrowawayRedis] = []

    def make() -> ThrowawayRedis:
        folder = tmp_path / f"redis-{len(servers)}"
        folder.mkdir()
        servers.append(ThrowawayRedis(folder).start())
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


@dataclass(frozen=True)
class Corpus:
    """A generated corpus (videos + annotations) and a snapshot root holding its index."""

    folder: Path
    videos: Path
    root: Path
    annotations: list[dict[str, object]]

    def copy_root(self, target: Path) -> Path:
        """A private copy of the snapshot root, for tests that publish new snapshots."""
        shutil.copytree(self.root, target, symlinks=True, ignore=shutil.ignore_patterns("work"))
        return target


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """3 (+1 compositional) short synthetic videos, indexed once with the tiny model."""
    import json

    from indexer.pipeline import IndexOptions, index
    from indexer.synth import SynthConfig, generate_corpus

    folder = tmp_path_factory.mktemp("corpus")
    config = SynthConfig(videos=4, seed=7, width=160, height=120, min_duration=10, max_duration=14)
    generate_corpus(folder / "data", config)
    videos = folder / "data" / "videos"
    root = folder / "index"
    report = index(root, [str(videos)], TINY_MODEL, IndexOptions(workers=1))
    assert report["version"], f"the test corpus was not indexed: {report}"
    annotations = [
        json.loads(line)
        for path in sorted((folder / "data" / "annotations").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return Corpus(folder / "data", videos, root, annotations)
