"""Encoding throughput (clips/s, frames -> clip vectors) and query encoding latency, one thread, CPU.

Models are randomly initialised (speed does not depend on the weights): `kairos-small` (built-in CNN with
its glimpse and the clip level's motion reader), `kairos-small-no-motion` (without the reader),
`kairos-small-no-glimpse` (the CNN without either) and `kairos-clip-b32` (a CLIP ViT-B/32-shaped tower built
from its CLIPVisionConfig, no download).
Writes benchmarks/results/encode_speed.json and encode_speed.md.

    .venv/bin/python benchmarks/encode_speed.py [--clips 64] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine
from models.model import KairosModel, load_text_encoder
from models.registry import create_model

SUBTITLE_TOKENS = 16


def clips_per_second(model: KairosModel, n_clips: int, repeats: int) -> dict[str, float]:
    """Frames (3 per clip, 128x96 uint8) -> visual features -> clip and video level; best of `repeats`."""
    c = model.config
    frames = torch.randint(
        0, 256, (n_clips * c.frames_per_clip, c.frame_height, c.frame_width, 3), dtype=torch.uint8
    )
    frame_mask = torch.ones(n_clips, c.frames_per_clip, dtype=torch.bool)
    subs = torch.randn(n_clips, SUBTITLE_TOKENS, c.text_dim)
    sub_mask = torch.ones(n_clips, SUBTITLE_TOKENS, dtype=torch.bool)
    visual, total = [], []
    with torch.no_grad():
        model.encode_frames(frames[:2])  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            feats = model.encode_frames(frames).view(n_clips, c.frames_per_clip, -1)  # [C*F,Dv] -> [C,F,Dv]
            middle = time.perf_counter()
            model.encode_video(feats, frame_mask, subs, sub_mask)
            end = time.perf_counter()
            visual.append(middle - start)
            total.append(end - start)
    return {
        "clips": n_clips,
        "clips_per_s": n_clips / min(total),
        "visual_share": min(visual) / min(total),
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }


def query_latency(model: KairosModel, n_queries: int) -> dict[str, float]:
    """Text encoder + encode_query for one short query at a time: p50/p99 in ms."""
    encoder = load_text_encoder(model.config)
    encoder.warmup()
    queries = [f"the person picks up the red cup number {i}" for i in range(n_queries)]
    times = []
    with torch.no_grad():
        for text in queries:
            start = time.perf_counter()
            model.encode_query(encoder([text]))
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64, help="clips per measurement (CNN model)")
    parser.add_argument("--clip-b32-clips", type=int, default=8, help="clips per measurement (CLIP-B/32)")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    small = create_model("kairos-small").eval()
    cnn_models = {"kairos-small": small} | {
        name: create_model(name).eval() for name in ("kairos-small-no-motion", "kairos-small-no-glimpse")
    }
    rows = {name: clips_per_second(model, args.clips, repeats=3) for name, model in cnn_models.items()}
    rows["kairos-clip-b32"] = clips_per_second(
        create_model("kairos-clip-b32").eval(), args.clip_b32_clips, repeats=2
    )
    query = query_latency(small, args.queries)
    result = {
        "machine": machine(threads=1, torch=torch.__version__),
        "encode": rows,
        "query": {"model": "all-MiniLM-L6-v2 + encode_query", "queries": args.queries, **query},
    }
    lines = [
        "| model | params (M) | clips/s | visual share | clips timed |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {name} | {r['params_m']:.1f} | {r['clips_per_s']:.1f} | {r['visual_share']:.0%} | "
            f"{r['clips']:.0f} |"
            for name, r in rows.items()
        ),
        "",
        "| query encoding (1 short query, 1 thread) | p50 ms | p99 ms |",
        "| --- | --- | --- |",
        f"| all-MiniLM-L6-v2 + encode_query | {query['p50_ms']:.2f} | {query['p99_ms']:.2f} |",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "encode_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "encode_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
