"""TVR-scale performance: Kairos (two stages) against the naive design (one exact stage), over real HTTP.

python benchmarks/scale.py [--work benchmarks/.work/scale] [--videos 0] [--latency-queries 1000]
                           [--seconds 15] [--recall-queries 1000] [--rebuild]

1. Corpus of TVR's shape: every video of ../shared/data/tvr/tvr_video2dur_idx.json (21,793 at their real
   durations, ~1.12 M clips of 1.5 s) as precomputed frame features at 2 fps, generated with structure
   (`scene_features`: each TV show owns latent scenes, a video cuts between a few of them in shots, plus
   per-video and per-frame jitter), so that approximate search behaves as on real data, not white noise.
2. Kairos: `kairos index --features` with the bundled model (timed: the index build time), i.e. the
   precomputed-feature path, clip/segment/video vectors, IVF over the segments.
   Naive: the same clip vectors in a second snapshot whose stage-1 index is exact (Flat) over every clip
   as a one-clip segment: one exact stage over all clips, then the same moment head on the videos found.
3. Queries: the 10,895 real descriptions of ../shared/data/tvr/tvr_val_release.jsonl, encoded by the
   server's own text encoder. Each design is served by `kairos serve` (a real process) with a throwaway
   Redis, both at once on the same machine, and measured through HTTP: uncached latency (1 client,
   `--latency-queries` distinct queries, the designs taking turns in blocks of 100) with the share of each
   stage (encode, stage 1, stage 2 from the response's `timings`; HTTP = client time - server `took_ms`);
   cached latency (the same queries again); throughput at 1, 4 and 16 concurrent clients, one design at a
   time (`--seconds` each, distinct queries, cache flushed before each level); server RSS; snapshot size on
   disk. Kairos's throughput is also measured with `kairos serve --workers 2`.
4. Stage-1 recall@100 of videos against exact search (video score = best segment similarity, computed
   exactly with numpy over every segment) for `--recall-queries` queries.
Writes benchmarks/results/scale.json and scale.md. The generated corpus and both snapshots stay in --work
and are reused by the next run (`--rebuild` regenerates them).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import (
    KAIROS,
    RESULTS,
    TVR,
    kairos_server,
    machine,
    percentile,
    process_cpu_s,
    process_memory_mb,
    throwaway_redis,
    write_json,
)

DURATIONS = TVR / "tvr_video2dur_idx.json"
QUERIES = TVR / "tvr_val_release.jsonl"
FPS = 2.0  # the bundled model's frame rate: the features need no resampling
MODEL = "kairos-small"  # the bundled model for 256-dim precomputed features (the default, kairos-real: 1280)
DIM = 256  # its visual_dim
SCENES_PER_SHOW = 100
SCENES_PER_VIDEO = 6
MEAN_SHOT_FRAMES = 10
SEED = 2026
TOP_K = 100  # stage-1 candidates, the API's default top_k_videos
CLIENTS = (1, 4, 16)


# ---------------------------------------------------------------- the corpus


def tvr_videos() -> list[tuple[str, float]]:
    """(video name, duration s) of every split of TVR, in the file's order."""
    splits = json.loads(DURATIONS.read_text())
    return [(name, float(entry[0])) for split in splits.values() for name, entry in split.items()]


def show_of(name: str) -> str:
    """TVR names start with the show (`friends_s01e03_...`), except The Big Bang Theory's (`s02e14_...`)."""
    head = name.split("_", 1)[0]
    return "bbt" if head[:1] == "s" and head[1:].isdigit() else head


def scene_centres(shows: list[str]) -> dict[str, np.ndarray]:
    """SCENES_PER_SHOW latent scene centres [S, DIM] per show, N(0, 1) per dimension."""
    rng = np.random.default_rng(SEED)
    return {show: rng.standard_normal((SCENES_PER_SHOW, DIM)).astype(np.float32) for show in sorted(shows)}


def scene_features(centres: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """[frames, DIM]: shots (geometric lengths) cutting between a few scenes + video and frame jitter."""
    palette = centres[rng.choice(len(centres), SCENES_PER_VIDEO, replace=False)]
    palette = palette + 0.5 * rng.standard_normal(palette.shape).astype(np.float32)  # this video's look
    shot_of_frame = np.cumsum(rng.random(frames) < 1.0 / MEAN_SHOT_FRAMES)
    scene_of_shot = rng.integers(0, SCENES_PER_VIDEO, shot_of_frame[-1] + 1)
    jitter = 0.5 * rng.standard_normal((frames, DIM)).astype(np.float32)
    return palette[scene_of_shot[shot_of_frame]] + jitter


def _write_features(job: tuple[Path, list[tuple[int, str, float]], dict[str, np.ndarray]]) -> int:
    folder, videos, centres = job
    for number, name, duration in videos:
        rng = np.random.default_rng([SEED, number])
        frames = max(1, math.ceil(duration * FPS))
        features = scene_features(centres[show_of(name)], frames, rng)
        np.save(folder / f"{name}.npy", features.astype(np.float16))
    return len(videos)


def generate(folder: Path, videos: list[tuple[str, float]], workers: int) -> float:
    """Write one `<name>.npy` [T, DIM] float16 per video; returns the seconds it took."""
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    centres = scene_centres([show_of(name) for name, _ in videos])
    numbered = [(i, name, duration) for i, (name, duration) in enumerate(videos)]
    jobs = [(folder, numbered[i : i + 500], centres) for i in range(0, len(numbered), 500)]
    with ProcessPoolExecutor(workers) as pool:
        written = sum(pool.map(_write_features, jobs))
    assert written == len(videos)
    return time.perf_counter() - started


# ---------------------------------------------------------------- the two snapshots


def build_kairos(features: Path, root: Path) -> dict[str, Any]:
    """`kairos index --features` into ``root``, timed; the indexer's report, trimmed of per-video lists."""
    started = time.perf_counter()
    command = [KAIROS, "index", "--features", str(features), "--features-fps", str(FPS), "--out", str(root)]
    command += ["--model", MODEL]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, env=_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kairos index failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    if not report["counts"]["indexed"] + report["counts"]["resumed"]:
        reasons = [failure["reason"] for failure in report.get("failed", [])[:1]]
        raise RuntimeError(f"kairos index indexed no video: {reasons}")
    return {
        "command": " ".join(command),
        "wall_s": round(time.perf_counter() - started, 1),
        "counts": report.get("counts"),
        "timings_s": {k: round(v, 1) for k, v in report.get("timings", {}).items()},
        "failed": len(report.get("failed", [])),
    }


def build_naive(kairos_root: Path, root: Path) -> dict[str, Any]:
    """The naive design's snapshot: Kairos's clip vectors, each clip a segment, in an exact Flat index."""
    from indexer.snapshot import SnapshotWriter, VideoRecord, open_snapshot

    started = time.perf_counter()
    with open_snapshot(kairos_root) as source:
        m = source.manifest
        with SnapshotWriter(root, m.model_hash, m.dim, m.clip_seconds, segment_factory="Flat") as writer:
            for video_id in source.video_ids:
                record = source.record(video_id)
                n = len(record.clips)
                ranges = np.stack([np.arange(n), np.arange(1, n + 1)], axis=1).astype(np.int64)
                writer.add_video(
                    VideoRecord(
                        video_id=record.video_id,
                        path=record.path,
                        duration=record.duration,
                        content_hash=record.content_hash,
                        metadata=record.metadata,
                        clips=record.clips,
                        segments=record.clips,
                        segment_ranges=ranges,
                        video_vector=record.video_vector,
                    )
                )
            writer.publish()
    return {"wall_s": round(time.perf_counter() - started, 1)}


def snapshot_size_mb(root: Path) -> dict[str, Any]:
    """Bytes on disk of the CURRENT snapshot, in all and per file."""
    folder = root / "snapshots" / (root / "CURRENT").read_text().strip()
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
    return {
        "total_mb": round(sum(files.values()) / 2**20, 1),
        "files_mb": {k: round(v / 2**20, 1) for k, v in files.items()},
    }


def _env() -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


# ---------------------------------------------------------------- queries


def tvr_queries() -> list[str]:
    """The 10,895 descriptions of TVR's validation split, in file order."""
    with QUERIES.open() as handle:
        return [json.loads(line)["desc"] for line in handle if line.strip()]


# ---------------------------------------------------------------- HTTP measurements


class Client:
    """One keep-alive HTTP connection to the server, as a client in its own thread would hold."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def search(self, query: str) -> tuple[int, float, dict[str, Any] | None]:
        """(status, client ms, body when 200) of one `POST /v1/search`."""
        body = json.dumps({"query": query, "top_k_videos": TOP_K}).encode()
        started = time.perf_counter()
        self.connection.request("POST", "/v1/search", body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        return response.status, elapsed, json.loads(payload) if response.status == 200 else None

    def close(self) -> None:
        self.connection.close()


def latency(
    bases: dict[str, str], pids: dict[str, int], queries: list[str], block: int = 100
) -> dict[str, dict[str, Any]]:
    """One client per design, each query once, the designs taking turns block by block (order alternating):
    drift of a noisy machine hits both alike, while each query still runs with its own design's caches warm
    (query by query, the naive design's 1.15 GB scan would evict the other's model from the CPU caches)."""
    clients = {name: Client(base) for name, base in bases.items()}
    cpu = {name: process_cpu_s(pid) for name, pid in pids.items()}
    seen: dict[str, list[dict[str, Any]]] = {name: [] for name in bases}
    statuses: dict[str, dict[int, int]] = {name: {} for name in bases}
    for number, start in enumerate(range(0, len(queries), block)):
        for name in list(clients)[:: 1 if number % 2 == 0 else -1]:
            clients[name].close()  # the server drops a connection idle for 5 s; the next request reconnects
            for query in queries[start : start + block]:
                status, elapsed, body = clients[name].search(query)
                statuses[name][status] = statuses[name].get(status, 0) + 1
                if body is not None:
                    seen[name].append(body | {"client_ms": elapsed})
    for client in clients.values():
        client.close()
    cpu = {name: process_cpu_s(pid) - cpu[name] for name, pid in pids.items()}
    return {name: _latency_summary(seen[name], statuses[name], len(queries), cpu[name]) for name in bases}


def _latency_summary(
    bodies: list[dict[str, Any]], statuses: dict[int, int], queries: int, cpu_s: float
) -> dict[str, Any]:
    wall = [body["client_ms"] for body in bodies]
    parts = {
        stage: [body["timings"][f"{stage}_ms"] for body in bodies] for stage in ("encode", "stage1", "stage2")
    }
    cpu = {stage: [body["timings"][f"{stage}_cpu_ms"] for body in bodies] for stage in parts}
    parts["server"] = [body["took_ms"] for body in bodies]
    mean = {k: float(np.mean(v)) if v else 0.0 for k, v in parts.items()}
    total = float(np.mean(wall)) if wall else 0.0
    shares = {stage: mean[stage] / total for stage in ("encode", "stage1", "stage2")}
    shares["http_and_rest"] = 1.0 - sum(shares.values())
    return {
        "queries": queries,
        "statuses": statuses,
        "cached_answers": sum(bool(body["cached"]) for body in bodies),
        "latency_ms": {f"p{q}": percentile(wall, q / 100) for q in (50, 95, 99)},
        "server_took_ms_p50": percentile(parts["server"], 0.5),
        "stage_ms_mean": {k: round(v, 3) for k, v in mean.items()},
        # CPU of the answering thread per stage, and of the whole server process (HTTP, framework, Redis
        # client included) per answer
        "stage_cpu_ms_mean": {k: round(float(np.mean(v)), 3) if v else 0.0 for k, v in cpu.items()},
        "server_cpu_ms_per_answer": round(cpu_s * 1000 / max(len(bodies), 1), 3),
        "stage_share": {k: round(v, 3) for k, v in shares.items()},
    }


def throughput(base: str, pid: int, queries: Iterator[str], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads, each with its own connection, searching distinct queries for ``seconds``."""
    lock = threading.Lock()
    wall: list[float] = []
    failures: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def run() -> None:
        client = Client(base)
        while time.monotonic() < deadline:
            with lock:
                query = next(queries)
            try:
                status, elapsed, _ = client.search(query)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                client.close()
                client = Client(base)
                continue
            with lock:
                if status == 200:
                    wall.append(elapsed)
                else:
                    failures[str(status)] = failures.get(str(status), 0) + 1
        client.close()

    started, cpu = time.monotonic(), process_cpu_s(pid)
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.monotonic() - started, process_cpu_s(pid) - cpu
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "answers": len(wall),
        "queries_per_s": round(len(wall) / elapsed, 1),
        "server_cpu_ms_per_answer": round(cpu * 1000 / max(len(wall), 1), 3),
        "latency_ms": {f"p{q}": percentile(wall, q / 100) for q in (50, 99)},
        "failures": failures,
    }


@contextmanager
def served(root: Path, workers: int = 1) -> Iterator[tuple[str, int, str]]:
    """`kairos serve` on ``root`` with its own throwaway Redis, warmed up; yields (URL, pid, Redis URL)."""
    env = {"KAIROS_MODEL": MODEL}
    with throwaway_redis() as redis_url, kairos_server(root, redis_url, env, workers) as (base, pid):
        Client(base).search("warm up the encoder and the page cache")
        yield base, pid, redis_url


def load_levels(
    base: str, pid: int, redis_url: str, queries: list[str], seconds: float
) -> list[dict[str, Any]]:
    """Throughput at each of CLIENTS concurrent clients, the response cache flushed before each level."""
    import redis

    stream = itertools.cycle(queries)
    levels = []
    for clients in CLIENTS:
        redis.Redis.from_url(redis_url).flushdb()
        levels.append(throughput(base, pid, stream, clients, seconds))
    return levels


def measure(
    roots: dict[str, Path], queries: list[str], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Every HTTP figure of each design; latency interleaved across the designs, load one design at a time."""
    first, rest = queries[: args.latency_queries], queries[args.latency_queries :]
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(served(root)) for name, root in roots.items()}
        figures: dict[str, dict[str, Any]] = {
            name: {"memory": {"after_load": process_memory_mb(pid)}} for name, (_, pid, _) in servers.items()
        }
        bases = {name: base for name, (base, _, _) in servers.items()}
        pids = {name: pid for name, (_, pid, _) in servers.items()}
        for kind in ("uncached", "cached"):
            answers = latency(bases, pids, first)
            for name, summary in answers.items():
                figures[name][kind] = summary
        for name, (base, pid, redis_url) in servers.items():
            figures[name]["throughput"] = load_levels(base, pid, redis_url, rest, args.seconds)
            figures[name]["memory"]["after_runs"] = process_memory_mb(pid)
            figures[name]["snapshot"] = snapshot_size_mb(roots[name])
    return figures


def measure_processes(
    root: Path, queries: list[str], args: argparse.Namespace, workers: int
) -> dict[str, Any]:
    """Throughput and memory of one design served by several processes."""
    with served(root, workers) as (base, pid, redis_url):
        levels = load_levels(base, pid, redis_url, queries[args.latency_queries :], args.seconds)
        return {"workers": workers, "throughput": levels, "memory": {"after_runs": process_memory_mb(pid)}}


# ---------------------------------------------------------------- stage-1 recall


def encode_queries(queries: list[str]) -> np.ndarray:
    """Query vectors [N, D] float32 from the bundled model, as the server computes them."""
    import torch

    from models.pretrained import resolve_model

    model = resolve_model(MODEL).eval()
    with torch.inference_mode():
        batches = [
            model.encode_query(model.text_encoder(queries[i : i + 64])).float().numpy()
            for i in range(0, len(queries), 64)
        ]
    return np.concatenate(batches).astype(np.float32)


def stage1_recall(root: Path, queries: list[str]) -> dict[str, Any]:
    """Recall@100 of the videos stage 1 returns (IVF over segments) against exact best-segment scores."""
    from indexer.snapshot import open_snapshot
    from indexer.snapshot.tuning import exact_video_scores, recall_at

    q = encode_queries(queries)
    with open_snapshot(root) as snapshot:
        arrays, path = snapshot.manifest.arrays, snapshot.path
        segments = np.memmap(path / "segments.f16", np.float16, "r", shape=arrays["segments.f16"].shape)
        owners = np.memmap(path / "segments.i32", np.int32, "r", shape=arrays["segments.i32"].shape)[:, 0]
        exact = np.argsort(-exact_video_scores(segments, np.asarray(owners), len(snapshot), q), axis=1)
        _, found = snapshot.top_videos(q, TOP_K)
        spec = snapshot.manifest.segment_index
    recall = recall_at(found, exact[:, :TOP_K])
    return {
        "queries": len(queries),
        "k": TOP_K,
        "search_params": spec.search_params,
        "fetch": (spec.tuning or {}).get("fetch"),
        "tuned_on_pseudo_queries": spec.tuning,
        "recall_mean": round(float(np.mean(recall)), 4),
        "recall_min": round(float(np.min(recall)), 4),
    }


# ---------------------------------------------------------------- report


TARGETS: list[tuple[str, str, float, str]] = [
    # (label, path in the Kairos figures, target, "<=" or ">=")
    ("uncached p50 ms (HTTP)", "uncached.latency_ms.p50", 8.0, "<="),
    ("uncached p99 ms (HTTP)", "uncached.latency_ms.p99", 20.0, "<="),
    ("cached p50 ms (HTTP)", "cached.latency_ms.p50", 1.0, "<="),
    ("queries/s at 16 clients", "throughput.2.queries_per_s", 250.0, ">="),
    ("server RSS MB", "memory.after_runs.rss_mb", 2560.0, "<="),
    ("stage-1 recall@100", "recall.recall_mean", 0.98, ">="),
]


def lookup(figures: dict[str, Any], path: str) -> float:
    value: Any = figures
    for key in path.split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
    return float(value)


def markdown(report: dict[str, Any]) -> str:
    """The README table: each figure for Kairos and the naive design, their ratio, and the target."""
    kairos, naive = report["kairos"], report["naive"]
    lines = [
        "| figure | Kairos | naive (one exact stage) | naive / Kairos | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = [
        ("uncached p50 ms (HTTP)", "uncached.latency_ms.p50"),
        ("uncached p95 ms (HTTP)", "uncached.latency_ms.p95"),
        ("uncached p99 ms (HTTP)", "uncached.latency_ms.p99"),
        ("cached p50 ms (HTTP)", "cached.latency_ms.p50"),
        ("cached p99 ms (HTTP)", "cached.latency_ms.p99"),
        *[(f"queries/s at {c} clients", f"throughput.{i}.queries_per_s") for i, c in enumerate(CLIENTS)],
        ("mean encode ms", "uncached.stage_ms_mean.encode"),
        ("mean stage 1 ms", "uncached.stage_ms_mean.stage1"),
        ("mean stage 2 ms", "uncached.stage_ms_mean.stage2"),
        ("mean encode CPU-ms", "uncached.stage_cpu_ms_mean.encode"),
        ("mean stage 1 CPU-ms", "uncached.stage_cpu_ms_mean.stage1"),
        ("mean stage 2 CPU-ms", "uncached.stage_cpu_ms_mean.stage2"),
        ("server CPU-ms per uncached answer (all of it)", "uncached.server_cpu_ms_per_answer"),
        ("server CPU-ms per answer at 16 clients", "throughput.2.server_cpu_ms_per_answer"),
        ("server RSS MB", "memory.after_runs.rss_mb"),
        ("server PSS MB", "memory.after_runs.pss_mb"),
        ("snapshot on disk MB", "snapshot.total_mb"),
    ]
    targets = {path: (target, op) for _, path, target, op in TARGETS}
    for label, path in rows:
        a, b = lookup(kairos, path), lookup(naive, path)
        target = targets.get(path)
        goal = f"{target[1]} {target[0]:g}" if target else ""
        met = "" if target is None else ("yes" if _meets(a, *target) else "no")
        lines.append(f"| {label} | {a:g} | {b:g} | {b / a:.2f} | {goal} | {met} |" if a else "")
    recall = kairos["recall"]
    lines.append(
        f"| stage-1 recall@100 vs exact | {recall['recall_mean']:g} | 1 | | >= 0.98 | "
        f"{'yes' if recall['recall_mean'] >= 0.98 else 'no'} |"
    )
    lines.append(f"| index build s | {report['build']['kairos']['wall_s']:g} | | | | |")
    two = report["kairos_2_workers"]
    for i, clients in enumerate(CLIENTS):
        qps = lookup(two, f"throughput.{i}.queries_per_s")
        lines.append(f"| Kairos, 2 server processes: queries/s at {clients} clients | {qps:g} | | | | |")
    lines.append(
        f"| Kairos, 2 server processes: RSS MB (both) | {lookup(two, 'memory.after_runs.rss_mb'):g} | | | | |"
    )
    pss = lookup(two, "memory.after_runs.pss_mb")
    lines.append(
        f"| Kairos, 2 server processes: PSS MB (both; shared pages once) | {pss:g} | | | <= 3072 | "
        f"{'yes' if pss <= 3072 else 'no'} |"
    )
    return "\n".join(line for line in lines if line) + "\n"


def _meets(value: float, target: float, op: str) -> bool:
    return value <= target if op == "<=" else value >= target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / ".work" / "scale")
    parser.add_argument("--videos", type=int, default=0, help="Use the first N videos (0: all 21,793).")
    parser.add_argument("--latency-queries", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0, help="Per throughput level.")
    parser.add_argument("--recall-queries", type=int, default=1000)
    parser.add_argument("--rebuild", action="store_true", help="Regenerate the corpus and both snapshots.")
    parser.add_argument("--build-only", action="store_true", help="Prepare the corpus and snapshots only.")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args()

    videos = tvr_videos()[: args.videos or None]
    features, kairos_root, naive_root = args.work / "features", args.work / "kairos", args.work / "naive"
    built = args.work / "build.json"
    if args.rebuild:
        shutil.rmtree(args.work, ignore_errors=True)
    build: dict[str, Any] = json.loads(built.read_text()) if built.is_file() else {}
    steps = (
        ("generate_s", lambda: round(generate(features, videos, workers=os.cpu_count() or 1), 1)),
        ("kairos", lambda: build_kairos(features, kairos_root)),
        ("naive", lambda: build_naive(kairos_root, naive_root)),
    )
    for step, run in steps:  # each step once; one that failed or was cut short starts over
        if step not in build:
            build[step] = run()
            write_json(built, build)
    if args.build_only:
        print(json.dumps(build, indent=2))
        return

    queries = tvr_queries()
    report: dict[str, Any] = {
        "benchmark": "scale",
        "machine": machine(),
        "corpus": {
            "videos": len(videos),
            "hours": round(sum(d for _, d in videos) / 3600, 1),
            "clips": build["kairos"]["counts"],
            "features": f"{FPS:g} fps x {DIM} dims, {SCENES_PER_SHOW} scenes per show, shots of "
            f"~{MEAN_SHOT_FRAMES} frames between {SCENES_PER_VIDEO} scenes per video",
        },
        "queries": len(queries),
        "build": build,
        **measure({"kairos": kairos_root, "naive": naive_root}, queries, args),
        "kairos_2_workers": measure_processes(kairos_root, queries, args, workers=2),
    }
    report["kairos"]["recall"] = stage1_recall(kairos_root, queries[: args.recall_queries])
    report["targets"] = [
        {
            "figure": label,
            "target": f"{op} {target:g}",
            "value": lookup(report["kairos"], path),
            "met": _meets(lookup(report["kairos"], path), target, op),
        }
        for label, path, target, op in TARGETS
    ]
    speedup = lookup(report["naive"], "uncached.latency_ms.p50") / lookup(
        report["kairos"], "uncached.latency_ms.p50"
    )
    report["targets"].append(
        {
            "figure": "naive p50 / Kairos p50",
            "target": ">= 5",
            "value": round(speedup, 2),
            "met": speedup >= 5,
        }
    )
    pss = lookup(report["kairos_2_workers"], "memory.after_runs.pss_mb")
    report["targets"].append(
        {"figure": "2 server processes, PSS MB", "target": "<= 3072", "value": pss, "met": pss <= 3072}
    )
    write_json(args.out, report)
    table = markdown(report)
    args.out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
