"""`kairos serve --workers 2`: two real server processes behind one port answer searches."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TINY_MODEL, Corpus


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_two_worker_processes_serve_one_port(corpus: Corpus, redis_url: str) -> None:
    port = free_port()
    env = os.environ | {"KAIROS_MODEL": TINY_MODEL, "KAIROS_REDIS_URL": redis_url, "OMP_NUM_THREADS": "1"}
    kairos = str(Path(sys.executable).with_name("kairos"))
    command = [kairos, "serve", "--snapshot-root", str(corpus.root), "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        ready = 0
        while time.monotonic() < deadline and ready < 4:  # several answers: both workers are up
            try:
                ready += httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                time.sleep(0.5)
        assert ready == 4, "the server did not become ready"
        workers = [
            p
            for p in children(server.pid)
            if "resource_tracker" not in Path(f"/proc/{p}/cmdline").read_text()
        ]
        assert len(workers) >= 2
        for query in ("a red circle spins", "something grows", "a blue square"):
            answer = httpx.post(f"{base}/v1/search", json={"query": query}, timeout=30)
            assert answer.status_code == 200 and answer.json()["moments"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
