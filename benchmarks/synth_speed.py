"""Synthetic corpus generation speed: video-seconds generated per wall-second, with 1 and 2 workers.

    python benchmarks/synth_speed.py [--videos N] [--out PATH]

Writes JSON (default `benchmarks/results/synth.json`) and prints a markdown table. Each run generates the
same corpus (same seed) into a fresh temporary folder; the figure includes planning, rendering, encoding,
subtitles and annotations. Wall-clock speed depends on what else runs on the machine, so CPU time (this
process and its workers) is measured too, and the load average is recorded next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine
from indexer.synth import SynthConfig, generate_corpus

DEFAULT_OUT = RESULTS / "synth.json"


def _cpu_seconds() -> float:
    """CPU time used so far by this process and its finished children (the pool workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(config: SynthConfig, workers: int) -> dict[str, Any]:
    """Generate one corpus and time it."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        summary = generate_corpus(Path(folder) / "corpus", config, workers=workers)
        wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
        size = sum(f.stat().st_size for f in (Path(folder) / "corpus" / "videos").glob("*.mp4"))
    return {
        "workers": workers,
        "videos": sum(summary.videos.values()),
        "video_seconds": round(summary.video_seconds, 1),
        "wall_s": round(wall, 2),
        "video_seconds_per_s": round(summary.video_seconds / wall, 1),
        "per_worker": round(summary.video_seconds / wall / workers, 1),
        "cpu_s": round(cpu, 2),
        "video_seconds_per_cpu_s": round(summary.video_seconds / cpu, 1),
        "mp4_bytes": size,
        "queries": sum(summary.queries.values()),
        "load_average_before": round(load, 2),
    }


def markdown(rows: list[dict[str, Any]], config: SynthConfig) -> str:
    lines = [
        f"Synthetic corpus generation, {config.width}x{config.height} at {config.fps} fps, "
        f"seed {config.seed}",
        "",
        "| workers | videos | video-s | wall s | video-s per s | per worker | per CPU s | load avg |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['workers']} | {r['videos']} | {r['video_seconds']} | {r['wall_s']} | "
        f"{r['video_seconds_per_s']} | {r['per_worker']} | {r['video_seconds_per_cpu_s']} | "
        f"{r['load_average_before']} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8, help="train/val/test videos (plus compositional)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    config = SynthConfig(videos=args.videos, seed=args.seed)
    rows = [measure(config, workers) for workers in (1, 2)]
    result = {
        "benchmark": "synth_speed",
        "config": {"videos": args.videos, "seed": args.seed, "width": config.width, "height": config.height},
        "machine": machine(),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(markdown(rows, config))
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
