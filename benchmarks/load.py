"""Load: 1, 16 and 64 concurrent clients against `kairos serve` (a real process, loopback only), with Redis.

python benchmarks/load.py [--duration 60] [--clients 1,16,64] [--videos 8] [--model kairos-tiny]
                          [--max-in-flight N] [--timeout 10]
Generates and indexes a synthetic corpus in a temporary folder, starts `kairos serve` on a free 127.0.0.1 port
(Redis from KAIROS_REDIS_URL or 127.0.0.1:6379, a fresh key space since the snapshot is new), then for each
client count runs that many httpx async clients for `--duration` seconds (60, as the issue asks), each request
drawn from the mix: 70 % searches (half repeats of 8 fixed queries, half unique), 10 % video listings, 10 %
thumbnails, 10 % localize calls. Reports per level: requests, throughput, p50/p99 latency (of all answers, and
of the 2xx), status counts, answers >= 500, 429/503 with and without Retry-After, connection errors and client
timeouts. Writes benchmarks/results/load.json and prints a markdown table.
Bar (issue 7): 0 answers >= 500 and 0 connection errors at 16 clients; at 64 the server sheds load
(429/503 + Retry-After) rather than piling up timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import KAIROS, RESULTS, free_port, machine, serve_logged, stop, write_json
from indexer.pipeline import IndexOptions, index
from indexer.synth import SynthConfig, generate_corpus
from service.settings import Settings

OUT = RESULTS / "load.json"
REPEATED = [
    "a red circle moves to the left",
    "a blue square spins",
    "the green triangle grows",
    "two shapes meet in the middle",
    "a person walks across the room",
    "something falls down",
    "the screen turns dark",
    "a yellow ball bounces",
]


def percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


@dataclass
class Tally:
    """What one load level saw."""

    latencies_ms: list[float] = field(default_factory=list)
    ok_latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    shed_with_retry_after: int = 0
    shed_without_retry_after: int = 0
    connection_errors: int = 0
    timeouts: int = 0

    def summary(self, clients: int, seconds: float) -> dict[str, Any]:
        ordered, ok = sorted(self.latencies_ms), sorted(self.ok_latencies_ms)
        answered = len(ordered)
        return {
            "clients": clients,
            "seconds": round(seconds, 2),
            "requests": answered + self.connection_errors + self.timeouts,
            "answers": answered,
            "throughput_rps": round(answered / seconds, 1) if seconds > 0 else 0.0,
            "ok_throughput_rps": round(len(ok) / seconds, 1) if seconds > 0 else 0.0,
            "latency_ms": {"p50": percentile(ordered, 0.5), "p99": percentile(ordered, 0.99)},
            "ok_latency_ms": {"p50": percentile(ok, 0.5), "p99": percentile(ok, 0.99)},
            "statuses": dict(sorted(self.statuses.items())),
            "mix": dict(sorted(self.by_kind.items())),
            "server_errors": sum(n for s, n in self.statuses.items() if int(s) >= 500 and s != "503"),
            "answers_ge_500": sum(n for s, n in self.statuses.items() if int(s) >= 500),
            "shed_with_retry_after": self.shed_with_retry_after,
            "shed_without_retry_after": self.shed_without_retry_after,
            "connection_errors": self.connection_errors,
            "timeouts": self.timeouts,
        }


def pick(rng: random.Random, videos: list[dict[str, Any]]) -> tuple[str, str, str, dict[str, Any] | None]:
    """(kind, method, path, json body) of one request of the mix."""
    roll = rng.random()
    if roll < 0.70:
        query = rng.choice(REPEATED) if rng.random() < 0.5 else f"a shape moves {uuid.uuid4().hex[:10]}"
        return "search", "POST", "/v1/search", {"query": query}
    video = rng.choice(videos)
    if roll < 0.80:
        return "list", "GET", f"/v1/videos?offset={rng.randrange(len(videos))}&limit=10", None
    if roll < 0.90:
        t = round(rng.uniform(0, max(video["duration"] - 0.5, 0)), 1)
        return "thumbnail", "GET", f"/v1/videos/{video['video_id']}/thumbnail?t={t}", None
    query = rng.choice(REPEATED)
    return "localize", "POST", f"/v1/videos/{video['video_id']}/localize", {"query": query}


async def client_loop(
    session: httpx.AsyncClient, deadline: float, seed: int, videos: list[dict[str, Any]], tally: Tally
) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        kind, method, path, body = pick(rng, videos)
        tally.by_kind[kind] += 1
        started = time.perf_counter()
        try:
            response = await session.request(method, path, json=body)
        except httpx.TimeoutException:
            tally.timeouts += 1
            continue
        except httpx.TransportError:
            tally.connection_errors += 1
            await asyncio.sleep(0.01)
            continue
        elapsed = (time.perf_counter() - started) * 1000
        tally.latencies_ms.append(elapsed)
        tally.statuses[str(response.status_code)] += 1
        if response.status_code < 300:
            tally.ok_latencies_ms.append(elapsed)
        elif response.status_code in (429, 503):
            if "retry-after" in response.headers:
                tally.shed_with_retry_after += 1
            else:
                tally.shed_without_retry_after += 1


async def level(url: str, clients: int, seconds: float, timeout: float, videos: list[dict[str, Any]]) -> Any:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as session:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(client_loop(session, deadline, k, videos, tally) for k in range(clients)))
        wall = time.monotonic() - started
    return tally.summary(clients, wall)


def start_server(
    root: Path, model: str, max_in_flight: int | None, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """`kairos serve` over ``root``; ``max_in_flight`` None keeps the server's default."""
    port = free_port()
    env = os.environ | {
        "KAIROS_SNAPSHOT_ROOT": str(root),
        "KAIROS_MODEL": model,
        "KAIROS_REDIS_URL": os.environ.get("KAIROS_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if max_in_flight is not None:
        env["KAIROS_MAX_IN_FLIGHT"] = str(max_in_flight)
    return serve_logged([KAIROS, "serve", "--host", "127.0.0.1", "--port", str(port)], env, log, port)


def run(args: argparse.Namespace) -> dict[str, Any]:
    levels: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kairos-load-") as tmp:
        folder = Path(tmp)
        config = SynthConfig(
            videos=args.videos, seed=13, width=160, height=120, min_duration=10, max_duration=20
        )
        generate_corpus(folder / "corpus", config)
        report = index(
            folder / "index", [str(folder / "corpus" / "videos")], args.model, IndexOptions(workers=1)
        )
        process, url = start_server(folder / "index", args.model, args.max_in_flight, folder / "serve.log")
        try:
            videos = httpx.get(f"{url}/v1/videos?limit=1000", timeout=10).json()["videos"]
            asyncio.run(level(url, 1, 1.0, args.timeout, videos))  # warm up (model, Redis connections)
            for clients in args.clients:
                result = asyncio.run(level(url, clients, args.duration, args.timeout, videos))
                alive = process.poll() is None
                result["server_alive_after"] = alive
                levels.append(result)
                print(f"{clients:>3} clients: {json.dumps(result)}", file=sys.stderr)
        finally:
            stop(process, timeout_s=20)
    bar16 = next((r for r in levels if r["clients"] == 16), None)
    bar64 = next((r for r in levels if r["clients"] == 64), None)
    return {
        "benchmark": "load",
        "machine": machine(),
        "model": args.model,
        "videos": report["counts"]["indexed"],
        "duration_s_per_level": args.duration,
        "client_timeout_s": args.timeout,
        "max_in_flight": args.max_in_flight or Settings.model_fields["max_in_flight"].default,
        "mix": {"search": 0.7, "search_repeats_share": 0.5, "list": 0.1, "thumbnail": 0.1, "localize": 0.1},
        "levels": levels,
        "bars": {
            "16_clients_no_5xx_no_connection_errors": None
            if bar16 is None
            else bar16["answers_ge_500"] == 0 and bar16["connection_errors"] == 0 and bar16["timeouts"] == 0,
            "64_clients_sheds_with_retry_after_no_timeouts": None
            if bar64 is None
            else bar64["server_errors"] == 0
            and bar64["timeouts"] == 0
            and bar64["connection_errors"] == 0
            and bar64["shed_without_retry_after"] == 0,
        },
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| clients | req/s (2xx) | p50 ms | p99 ms | 2xx p99 ms | statuses | 503+Retry-After | conn err "
        "| timeouts |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["levels"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
        lines.append(
            f"| {r['clients']} | {r['throughput_rps']} ({r['ok_throughput_rps']}) "
            f"| {r['latency_ms']['p50']} | {r['latency_ms']['p99']} | {r['ok_latency_ms']['p99']} "
            f"| {statuses} | {r['shed_with_retry_after']} | {r['connection_errors']} | {r['timeouts']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per client count")
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--model", default="kairos-tiny")
    parser.add_argument(
        "--max-in-flight", type=int, default=None, help="KAIROS_MAX_IN_FLIGHT of the server (its default)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout per request, seconds")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = run(args)
    write_json(args.out, result)
    print(table(result))
    print(json.dumps(result["bars"]))


if __name__ == "__main__":
    main()
