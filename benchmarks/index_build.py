"""Index build benchmark: build time, memory, 1-thread query latency and recall@10 of the snapshot's `auto`
index choice against exact search, on seeded clustered vectors.

    python benchmarks/index_build.py [--sizes 100000 1100000] [--dim 384]

Writes benchmarks/results/index_build.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine
from indexer.snapshot.faiss_index import (
    AUTO_EXACT_MAX,
    build_index,
    ivf_lists,
    resolve_factory,
    set_search_params,
)


def clustered(n: int, dim: int, seed: int, topics: int = 300, per_video: int = 50) -> np.ndarray:
    """[n, dim] float16 unit vectors: topic centres, video centres around them, clips around their video."""
    rng = np.random.default_rng(seed)
    n_videos = -(-n // per_video)
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    videos = centres[rng.integers(topics, size=n_videos)] + 0.5 * rng.normal(size=(n_videos, dim)).astype(
        np.float32
    )
    out = np.empty((n, dim), dtype=np.float16)
    for start in range(0, n, 65_536):
        rows = np.arange(start, min(n, start + 65_536))
        x = videos[rows // per_video] + 0.35 * rng.normal(size=(len(rows), dim)).astype(np.float32)
        out[rows] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def release_freed_memory() -> None:
    """Make glibc hand large freed blocks back to the OS, so RSS deltas measure one index alone."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD fixed at 1 MiB: big arrays are mmapped and unmapped on free
    libc.malloc_trim(0)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e3
    return float("nan")


def measure(
    data: np.ndarray, factory: str, params: str, queries: np.ndarray, truth: np.ndarray, threads: int
) -> dict[str, Any]:
    faiss.omp_set_num_threads(threads)
    release_freed_memory()
    base = rss_mb()
    reset_peak()
    t0 = time.perf_counter()
    index = build_index(data, factory)
    build_s = time.perf_counter() - t0
    peak = peak_mb() - base
    held = rss_mb() - base
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.faiss"
        faiss.write_index(index, str(path))
        index_mb = path.stat().st_size / 1e6
    set_search_params(index, params)
    faiss.omp_set_num_threads(1)
    latencies, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, labels = index.search(q[None], 10)
        latencies.append((time.perf_counter() - t) * 1e3)
        found.append(labels[0])
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    return {
        "factory": factory,
        "search_params": params,
        "build_s": round(build_s, 2),
        "build_threads": threads,
        "peak_rss_delta_mb": round(peak, 1),
        "rss_delta_mb": round(held, 1),
        "index_file_mb": round(index_mb, 1),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 3),
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 3),
        "recall_at_10": round(float(recall), 4),
    }


def run_size(n: int, dim: int, n_queries: int, threads: int, seed: int) -> list[dict[str, Any]]:
    data = clustered(n, dim, seed)
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(n, size=n_queries)
    q = data[picks].astype(np.float32) + 0.2 * rng.normal(size=(n_queries, dim)).astype(np.float32) / np.sqrt(
        dim
    )
    queries = q / np.linalg.norm(q, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(dim)
    for start in range(0, n, 65_536):
        exact.add(data[start : start + 65_536].astype(np.float32))
    faiss.omp_set_num_threads(threads)
    _, truth = exact.search(queries, 10)
    del exact
    auto, auto_params = resolve_factory("auto", n)
    candidates = [("Flat", "", "exact")]
    candidates.append((auto, auto_params, "auto"))
    if auto == "Flat":  # what auto would pick just past the threshold, for comparison
        candidates.append((f"IVF{ivf_lists(n)},SQfp16", "nprobe=16", "approximate (not chosen)"))
    if n <= 200_000:
        candidates.append(("HNSW32,Flat", "efSearch=64", "approximate (not chosen)"))
    rows = []
    for factory, params, role in candidates:
        row = {"n": n, "dim": dim, "role": role, **measure(data, factory, params, queries, truth, threads)}
        rows.append(row)
        print(f"  {row}", flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = "| n | role | factory | params | build s | peak RSS MB | index MB | p50 ms | p99 ms | recall@10 |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['role']} | `{r['factory']}` | {r['search_params'] or '-'} | {r['build_s']} | "
            f"{r['peak_rss_delta_mb']} | {r['index_file_mb']} | {r['latency_ms_p50']} | "
            f"{r['latency_ms_p99']} | {r['recall_at_10']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_100_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--build-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "index_build.json")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        print(f"n={n:,} dim={args.dim}", flush=True)
        rows.extend(run_size(n, args.dim, args.queries, args.build_threads, args.seed))
    result = {
        "benchmark": "index_build",
        "machine": machine(faiss=faiss.__version__),
        "auto_exact_max": AUTO_EXACT_MAX,
        "queries": args.queries,
        "data": "clustered: 300 topic centres; videos of 50 vectors around a topic; vectors around the video",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
