"""Micro-batching of query encoding on and off: concurrent HTTP clients against real `kairos serve` processes.

    python benchmarks/microbatch.py [--waits 0,2,5] [--clients 1,16] [--rounds 3] [--seconds 6]
        [--videos 8] [--model kairos-small] [--encoder onnx-int8]

Generates and indexes a small synthetic corpus (the `kairos` command line, in a temporary folder), then starts
one `kairos serve` per wait (`KAIROS_QUERY_BATCH_WAIT_MS`; 0 = off), all at once, with the response cache
and the query memo off so that every request encodes its query. Each client count is measured in `--rounds`
rounds; in each round every server gets `--seconds` of load in turn (side by side, so drifting load on the
machine hits all of them alike). Every request is POST /v1/search with a distinct real TVR val description.
Reports per wait and client count: requests/s, client latency p50/p99, server `encode_ms` p50/p99.
Writes benchmarks/results/microbatch.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, TVR_VAL, free_port, machine, serve_logged, write_report

OUT = RESULTS / "microbatch.json"


def serve(root: Path, model: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`kairos serve` over `root` on a free loopback port with extra `KAIROS_*` settings, once ready."""
    port = free_port()
    env = (
        os.environ | {"KAIROS_SNAPSHOT_ROOT": str(root), "KAIROS_MODEL": model, "OMP_NUM_THREADS": "1"} | env
    )
    command = [sys.executable, "-m", "commands.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return serve_logged(command, env, log, port)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    return {
        "p50": round(float(np.percentile(values, 50)), 2),
        "p99": round(float(np.percentile(values, 99)), 2),
    }


async def load(url: str, clients: int, seconds: float, queries: Iterator[str]) -> dict[str, list[float]]:
    """`clients` concurrent loops of POST /v1/search for `seconds`; client and server-side timings."""
    seen: dict[str, list[float]] = {"latency_ms": [], "encode_ms": [], "errors": []}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as session:
        deadline = time.monotonic() + seconds

        async def loop() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await session.post("/v1/search", json={"query": next(queries)})
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    seen["errors"].append(float(response.status_code))
                    continue
                seen["latency_ms"].append(elapsed)
                seen["encode_ms"].append(float(response.json()["timings"]["encode_ms"]))

        await asyncio.gather(*(loop() for _ in range(clients)))
    return seen


def run(args: argparse.Namespace) -> dict[str, Any]:
    texts = [json.loads(line)["desc"] for line in TVR_VAL.read_text().splitlines()]
    queries = (f"{text} #{n}" for n, text in enumerate(itertools.cycle(texts)))  # never cached
    kairos = [sys.executable, "-m", "commands.cli"]
    servers: dict[float, tuple[subprocess.Popen[bytes], str]] = {}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kairos-microbatch-") as tmp:
        folder = Path(tmp)
        synth = ["synth", "--videos", str(args.videos), "--seed", "13", "--out", str(folder / "corpus")]
        subprocess.run([*kairos, *synth], check=True, capture_output=True)
        index = [
            "index",
            str(folder / "corpus" / "videos"),
            "--out",
            str(folder / "index"),
            "--model",
            args.model,
        ]
        subprocess.run([*kairos, *index], check=True, capture_output=True)
        try:
            for wait in args.waits:
                env = {
                    "KAIROS_QUERY_BATCH_WAIT_MS": str(wait),
                    "KAIROS_QUERY_ENCODER": args.encoder,
                    "KAIROS_CACHE_TTL_S": "0",
                    "KAIROS_QUERY_MEMO_SIZE": "0",
                }
                servers[wait] = serve(folder / "index", args.model, env, folder / f"serve-{wait}.log")
            for _, url in servers.values():
                asyncio.run(load(url, 4, 1.0, queries))  # warm up
            for clients in args.clients:
                seen: dict[float, dict[str, list[float]]] = {
                    w: {"latency_ms": [], "encode_ms": [], "errors": []} for w in args.waits
                }
                seconds = dict.fromkeys(args.waits, 0.0)
                for _ in range(args.rounds):
                    for wait, (_, url) in servers.items():
                        started = time.monotonic()
                        for key, values in asyncio.run(load(url, clients, args.seconds, queries)).items():
                            seen[wait][key] += values
                        seconds[wait] += time.monotonic() - started
                results[str(clients)] = {
                    f"wait_{wait:g}ms": {
                        "requests": len(seen[wait]["latency_ms"]),
                        "errors": len(seen[wait]["errors"]),
                        "throughput_rps": round(len(seen[wait]["latency_ms"]) / seconds[wait], 1),
                        "latency_ms": percentiles(seen[wait]["latency_ms"]),
                        "encode_ms": percentiles(seen[wait]["encode_ms"]),
                    }
                    for wait in args.waits
                }
                print(f"{clients} clients: {json.dumps(results[str(clients)])}", file=sys.stderr)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=20)
    return {
        "benchmark": "microbatch",
        "command": "python benchmarks/microbatch.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "model": args.model,
        "encoder": args.encoder,
        "videos": args.videos,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "by_clients": results,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Micro-batching of query encoding, `kairos serve` with model `{result['model']}`, encoder "
        f"`{result['encoder']}`, response cache and memo off, {result['rounds']} rounds x "
        f"{result['seconds_per_round']} s per setting, {result['machine']['cpus']} CPUs (shared).",
        "",
        "| clients | wait | req/s | p50 ms | p99 ms | encode p50 ms | encode p99 ms | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for clients, by_wait in result["by_clients"].items():
        for wait, r in by_wait.items():
            latency, encode = r["latency_ms"], r["encode_ms"]
            lines.append(
                f"| {clients} | {wait.removeprefix('wait_')} | {r['throughput_rps']} | {latency['p50']} | "
                f"{latency['p99']} | {encode['p50']} | {encode['p99']} | {r['errors']} |"
            )
    return "\n".join(lines + ["", f"Command: `{result['command']}`"]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--waits", type=lambda s: [float(x) for x in s.split(",")], default=[0.0, 2.0, 5.0])
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--model", default="kairos-small")
    parser.add_argument("--encoder", default="onnx-int8")
    result = run(parser.parse_args())
    write_report(OUT, result, markdown(result))


if __name__ == "__main__":
    main()
