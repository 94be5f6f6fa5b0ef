"""Stage-2 cost against the moment head width: `MomentHead.score_videos` for one query, as search runs it.

python benchmarks/moment_head.py [--widths 256,128,64] [--videos 10] [--rounds 200]

Each round scores one random query against `--videos` videos with TVR's clip counts (durations of the real TVR
val videos in `../shared/data/tvr`, 1.5 s clips; sampled with seed 0), one thread, eval mode, no gradients.
Widths are measured in turns, round by round, so machine noise falls on all alike. Weights are random: the
cost does not depend on their values. Writes benchmarks/results/moment_head.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
import time
from pathlib import Path
from statistics import median

import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, TVR_VAL, machine, percentile, write_json
from models.config import ModelConfig
from models.moment import MomentHead


def clip_counts(n: int, clip_seconds: float) -> list[int]:
    """`n` clip counts of real TVR val videos (one per video, seed 0)."""
    durations = {}
    for line in TVR_VAL.read_text().splitlines():
        row = json.loads(line)
        durations[row["vid_name"]] = float(row["duration"])
    chosen = random.Random(0).sample(sorted(durations), n)
    return [max(1, math.ceil(durations[name] / clip_seconds)) for name in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--widths", default="256,128,64")
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS / "moment_head.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    base = ModelConfig()
    widths = [int(w) for w in args.widths.split(",")]
    heads = {w: MomentHead(dataclasses.replace(base, head_hidden=w)).eval() for w in widths}
    lengths = clip_counts(args.videos, base.clip_seconds)
    clips = torch.nn.functional.normalize(torch.randn(sum(lengths), base.dim), dim=-1)
    times: dict[int, list[float]] = {w: [] for w in widths}
    with torch.no_grad():
        for head in heads.values():  # warm up
            head.score_videos(torch.randn(base.dim), clips, lengths)
        for _ in range(args.rounds):
            query = torch.nn.functional.normalize(torch.randn(base.dim), dim=0)
            for width, head in heads.items():
                start = time.perf_counter()
                head.score_videos(query, clips, lengths)
                times[width].append((time.perf_counter() - start) * 1000)
    widest = widths[0]
    results = [
        {
            "head_hidden": w,
            "parameters": sum(p.numel() for p in heads[w].parameters()),
            "p50_ms": percentile(times[w], 0.5),
            "p99_ms": percentile(times[w], 0.99),
            "p50_ratio_to_widest": round(median(times[widest]) / median(times[w]), 2),
        }
        for w in widths
    ]
    report = {
        "benchmark": "moment_head",
        "machine": machine(),
        "videos": args.videos,
        "clips": sum(lengths),
        "rounds": args.rounds,
        "results": results,
    }
    write_json(args.out, report)
    for row in results:
        print(
            f"head_hidden {row['head_hidden']:>4}: p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
            f"{row['p50_ratio_to_widest']:.2f}x faster than {widest}"
        )


if __name__ == "__main__":
    main()
