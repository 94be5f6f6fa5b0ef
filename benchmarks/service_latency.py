"""took_ms of searches over HTTP (a real uvicorn server): uncached and cached, both stage-1 modes.

python benchmarks/service_latency.py [--videos 12] [--repeats 20] [--model kairos-tiny]
Generates and indexes a synthetic corpus in a temporary folder, starts the API on a free port (real Redis
from KAIROS_REDIS_URL or 127.0.0.1:6379), and writes benchmarks/results/service_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from indexer.pipeline import IndexOptions, index
from indexer.synth import SynthConfig, generate_corpus
from service.app import create_app
from service.settings import Settings

OUT = Path(__file__).resolve().parent / "results" / "service_latency.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max": round(ordered[-1], 3),
        "n": len(ordered),
    }


def measure(url: str, queries: list[str], top_k: int) -> dict[str, Any]:
    """Each query asked twice: the first answer uncached, the second from Redis."""
    took: dict[str, list[float]] = {"uncached": [], "cached": [], "client_uncached": [], "client_cached": []}
    stages: dict[str, list[float]] = {"encode_ms": [], "stage1_ms": [], "stage2_ms": []}
    with httpx.Client(base_url=url, timeout=60) as client:
        for query in queries:
            for kind in ("uncached", "cached"):
                start = time.perf_counter()
                answer = client.post("/v1/search", json={"query": query, "top_k_videos": top_k}).json()
                took[f"client_{kind}"].append((time.perf_counter() - start) * 1000)
                assert answer["cached"] is (kind == "cached"), answer
                took[kind].append(answer["took_ms"])
                if kind == "uncached":
                    for stage in stages:
                        stages[stage].append(answer["timings"][stage])
    return {k: summary(v) for k, v in (took | stages).items()}


def run(videos: int, repeats: int, model: str, top_k: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kairos-bench-") as tmp:
        folder = Path(tmp)
        generate_corpus(folder / "corpus", SynthConfig(videos=videos, seed=11, width=160, height=120))
        report = index(folder / "index", [str(folder / "corpus" / "videos")], model, IndexOptions(workers=1))
        queries = [f"a red circle spins {uuid.uuid4().hex[:8]}" for _ in range(repeats)]
        results: dict[str, Any] = {}
        for mode in ("segments", "video"):
            settings = Settings(
                snapshot_root=folder / "index",
                model=model,
                redis_url=os.environ.get("KAIROS_REDIS_URL", "redis://127.0.0.1:6379/0"),
                stage1=mode,
            )
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            try:
                url = f"http://127.0.0.1:{port}"
                measure(url, ["warm up"], top_k)
                results[mode] = measure(url, [f"{q} {mode}" for q in queries], top_k)
            finally:
                server.should_exit = True
                thread.join()
    return {
        "benchmark": "service_latency",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "model": model,
        "videos": report["counts"]["indexed"],
        "top_k_videos": top_k,
        "repeats": repeats,
        "took_ms_by_stage1_mode": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--model", default="kairos-tiny")
    parser.add_argument("--top-k", type=int, default=100)
    args = parser.parse_args()
    result = run(args.videos, args.repeats, args.model, args.top_k)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["took_ms_by_stage1_mode"], indent=2))


if __name__ == "__main__":
    main()
