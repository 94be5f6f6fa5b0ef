"""took_ms of searches over HTTP (a real uvicorn server): uncached and cached, both stage-1 modes, per stage.

python benchmarks/service_latency.py [--videos 12] [--repeats 20] [--model kairos-small]
Generates and indexes a synthetic corpus in a temporary folder (random weights when the model has none
bundled), starts the API on a free port (real Redis from KAIROS_REDIS_URL or 127.0.0.1:6379), and writes
benchmarks/results/service_latency.json. Both stage-2 implementations run in the same process on the same
snapshot, side by side: "before" (the moment head's `forward` and `decode_moments` once per candidate video,
one SQLite query per candidate) and "after" (the current `SearchPipeline.stage2`). Per stage: encode, stage1,
stage2 (server timings) and rest = took_ms minus the three (cache look-ups, validation, serialisation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
import uvicorn

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, free_port, machine
from indexer.pipeline import IndexOptions, index
from indexer.snapshot import Snapshot
from indexer.synth import SynthConfig, generate_corpus
from models.moment import decode_moments, spans_to_seconds
from service.app import create_app
from service.schemas import Moment, MomentBounds, SearchRequest
from service.search import NMS_IOU, Candidates, SearchPipeline, clip_bounds, in_bounds
from service.settings import Settings, Stage1Mode

OUT = RESULTS / "service_latency.json"


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max": round(ordered[-1], 3),
        "n": len(ordered),
    }


@torch.inference_mode()
def stage2_before(
    self: SearchPipeline,
    snapshot: Snapshot,
    q: np.ndarray,
    candidates: Candidates,
    limit: int,
    bounds: MomentBounds,
) -> list[Moment]:
    """Stage 2 as it was before the batched decoder (kept here to measure against, same inputs)."""
    if len(candidates.idx) == 0:
        return []
    clip_seconds = snapshot.manifest.clip_seconds
    min_clips, max_clips = clip_bounds(bounds, clip_seconds)
    vectors = [snapshot.clip_vectors_at(int(i)) for i in candidates.idx]
    lengths = [len(v) for v in vectors]
    width = max(lengths)
    clips = np.zeros((len(vectors), width, snapshot.manifest.dim), dtype=np.float32)
    mask = np.zeros((len(vectors), width), dtype=bool)
    for row, (vec, n) in enumerate(zip(vectors, lengths, strict=True)):
        clips[row, :n] = vec
        mask[row, :n] = True
    query = torch.tensor(q, dtype=torch.float32).expand(len(vectors), -1)
    unary, pair = self.model.moment_head(query, torch.from_numpy(clips), torch.from_numpy(mask))
    unary, pair = unary.float().cpu(), pair.float().cpu()
    scores = candidates.scores.astype(np.float64)
    weights = np.exp((scores - scores.max()) / self.temperature)
    moments: list[Moment] = []
    for row, n in enumerate(lengths):
        if n < min_clips:
            continue
        video = snapshot.video_at(int(candidates.idx[row]))
        spans = decode_moments(
            unary[row, :n], pair[row, : max(n - 1, 0)], limit, min_clips, min(max_clips, n), NMS_IOU
        )
        for span in spans:
            start, end = spans_to_seconds(span, clip_seconds, video.duration)
            if end <= start or not in_bounds(end - start, bounds):
                continue
            moments.append(
                Moment(
                    video_id=video.video_id,
                    start=round(start, 3),
                    end=round(end, 3),
                    score=float(weights[row] * span.score),
                    video_score=float(candidates.scores[row]),
                    moment_score=float(span.score),
                    video_duration=video.duration,
                )
            )
    moments.sort(key=lambda m: -m.score)
    return moments[:limit]


def measure(url: str, queries: list[str], top_k: int) -> dict[str, Any]:
    """Each query asked twice: the first answer uncached, the second from Redis."""
    took: dict[str, list[float]] = {"uncached": [], "cached": [], "client_uncached": [], "client_cached": []}
    stages: dict[str, list[float]] = {"encode_ms": [], "stage1_ms": [], "stage2_ms": [], "rest_ms": []}
    with httpx.Client(base_url=url, timeout=60) as client:
        for query in queries:
            for kind in ("uncached", "cached"):
                start = time.perf_counter()
                answer = client.post("/v1/search", json={"query": query, "top_k_videos": top_k}).json()
                took[f"client_{kind}"].append((time.perf_counter() - start) * 1000)
                assert answer["cached"] is (kind == "cached"), answer
                took[kind].append(answer["took_ms"])
                if kind == "uncached":
                    timings = answer["timings"]
                    for stage in ("encode_ms", "stage1_ms", "stage2_ms"):
                        stages[stage].append(timings[stage])
                    stages["rest_ms"].append(answer["took_ms"] - sum(timings.values()))
    return {k: summary(v) for k, v in (took | stages).items()}


def side_by_side(
    pipeline: SearchPipeline, snapshot: Snapshot, queries: list[str], top_k: int
) -> dict[str, Any]:
    """Both stage-2 implementations on the same inputs, interleaved in one process: times and answers."""
    request = SearchRequest(query="x", top_k_videos=top_k, video_ids=None)
    times: dict[str, list[float]] = {"before": [], "after": []}
    same, diff = True, 0.0
    for text in queries:
        q = pipeline.encode(text)
        candidates = pipeline.stage1(snapshot, q, top_k)
        answers = {}
        for variant, fn in (("before", stage2_before), ("after", SearchPipeline.stage2)):
            start = time.perf_counter()
            answers[variant] = fn(pipeline, snapshot, q, candidates, request.limit, request)
            times[variant].append((time.perf_counter() - start) * 1000)
        before, after = answers["before"], answers["after"]
        same &= [(m.video_id, m.start, m.end) for m in before] == [
            (m.video_id, m.start, m.end) for m in after
        ]
        diff = max([diff] + [abs(b.score - a.score) for b, a in zip(before, after, strict=False)])
    return {
        "stage2_ms": {variant: summary(values) for variant, values in times.items()},
        "same_moments": same,
        "max_score_diff": diff,
    }


def run(videos: int, repeats: int, model: str, top_k: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kairos-bench-") as tmp:
        folder = Path(tmp)
        generate_corpus(folder / "corpus", SynthConfig(videos=videos, seed=11, width=160, height=120))
        report = index(folder / "index", [str(folder / "corpus" / "videos")], model, IndexOptions(workers=1))
        queries = [f"a red circle spins {uuid.uuid4().hex[:8]}" for _ in range(repeats)]
        results: dict[str, Any] = {}
        current = SearchPipeline.stage2
        modes: tuple[Stage1Mode, ...] = ("segments", "video")
        for variant, mode in [(v, m) for m in modes for v in ("before", "after")]:
            SearchPipeline.stage2 = stage2_before if variant == "before" else current  # type: ignore[method-assign]
            settings = Settings(
                snapshot_root=folder / "index",
                model=model,
                redis_url=os.environ.get("KAIROS_REDIS_URL", "redis://127.0.0.1:6379/0"),
                stage1=mode,
            )
            port = free_port()
            app = create_app(settings)
            server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            try:
                url = f"http://127.0.0.1:{port}"
                measure(url, [f"warm up {variant} {uuid.uuid4().hex[:8]}"], top_k)
                tag = uuid.uuid4().hex[:6]  # a fresh query text per variant: uncached, same words
                results.setdefault(mode, {})[variant] = measure(
                    url, [f"{q} {mode} {tag}" for q in queries], top_k
                )
                if variant == "after":  # both implementations on the same inputs, in this process
                    services = app.state.services
                    results[mode]["in_process"] = side_by_side(
                        services.pipeline, services.snapshots.current, [f"{q} {mode}" for q in queries], top_k
                    )
            finally:
                server.should_exit = True
                thread.join()
                SearchPipeline.stage2 = current  # type: ignore[method-assign]
        for pair in results.values():
            pair["stage2_p50_speedup"] = round(
                pair["before"]["stage2_ms"]["p50"] / pair["after"]["stage2_ms"]["p50"], 2
            )
            pair["uncached_p50_speedup"] = round(
                pair["before"]["uncached"]["p50"] / pair["after"]["uncached"]["p50"], 2
            )
    return {
        "benchmark": "service_latency",
        "machine": machine(),
        "model": model,
        "videos": report["counts"]["indexed"],
        "clips": report["counts"].get("clips"),
        "top_k_videos": top_k,
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "took_ms_by_stage1_mode": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--model", default="kairos-small")
    parser.add_argument("--top-k", type=int, default=100)
    args = parser.parse_args()
    result = run(args.videos, args.repeats, args.model, args.top_k)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["took_ms_by_stage1_mode"], indent=2))


if __name__ == "__main__":
    main()
