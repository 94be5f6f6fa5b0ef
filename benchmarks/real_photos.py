"""Search on real pictures: the photo corpus (`indexer.synth.photos`) indexed by each model, side by side.

python benchmarks/real_photos.py [--concepts 1,3,5] [--floors 0,0.05,0.1]

Indexes the 4 videos (12 photographs, 12 hand-written queries) with `kairos-real` at every (concepts, floor)
setting asked for, with `kairos-real`'s own hierarchy and moment head used untrained (what its zero-shot mode
avoids), and with the synthetic-trained `kairos-small`, then evaluates each through the service's
`SearchPipeline` (what `kairos eval` runs). Also times the frame features per frame on one thread
(EfficientNet in torch vs kairos-small's CNN). Writes benchmarks/results/real_photos.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine, write_report
from commands.evaluate import read_queries
from commands.evaluation import run_evaluation
from indexer.pipeline import IndexOptions, index
from indexer.snapshot import open_snapshot
from indexer.synth.photos import write_photo_corpus
from models.model import KairosModel
from models.pretrained import model_fingerprint, resolve_model
from models.registry import create_model, get_config
from service.cache import Cache, connect
from service.metrics import Metrics
from service.search import SearchPipeline
from service.settings import Settings


def evaluate(model: KairosModel, videos: Path, annotations: Path, work: Path) -> dict[str, Any]:
    """Index `videos` with `model` into `work`: VCMR/SVMR/VR R@1 and R@5, each query's first moment, the
    concept lines seen."""
    index(work, [str(videos)], model, IndexOptions())
    settings = Settings(query_encoder="torch")
    metrics = Metrics()
    cache = Cache(connect(settings.redis_url, settings.redis_timeout_s), metrics, ttl_s=0, retry_s=60)
    pipeline = SearchPipeline(model, model_fingerprint(model), cache, metrics, settings)
    rows = read_queries(annotations)
    with open_snapshot(work) as snap:
        result = run_evaluation(pipeline, snap, rows)
        seen = {line.text for idx in range(len(snap)) for line in snap.lines_at(idx)}
    m = result.metrics
    names = {idx: video for video, idx in result.predictions["video2idx"].items()}
    first = {
        entry["desc"]: [names[int(p[0])], p[1], p[2]]
        if (p := next(iter(entry["predictions"]), None))
        else None
        for entry in result.predictions["VCMR"]
    }
    return {
        "VCMR_0.5_R@1": m["VCMR"]["0.5-r1"],
        "VCMR_0.5_R@5": m["VCMR"]["0.5-r5"],
        "SVMR_0.5_R@1": m["SVMR"]["0.5-r1"],
        "VR_R@1": m["VR"]["r1"],
        "VR_R@5": m["VR"]["r5"],
        "first_moment": first,
        "concept_lines": sorted(seen),
    }


def frame_cost(model: KairosModel, frames: int = 24) -> dict[str, float]:
    """Milliseconds per frame on one thread at the model's frame size: `encode_frames` (what the indexer
    runs: ONNX Runtime for EfficientNet on the CPU) and the backbone's torch forward."""
    c = model.config
    batch = torch.randint(0, 255, (frames, c.frame_height, c.frame_width, 3), dtype=torch.uint8)
    pixels = model.visual.preprocess(batch)
    with torch.no_grad():
        model.encode_frames(batch[:2])
        return {
            "encode_frames": _median_ms(lambda: model.encode_frames(batch), frames),
            "torch": _median_ms(lambda: model.visual(pixels), frames),
        }


def _median_ms(call: Callable[[], object], frames: int) -> float:
    """Median of 3 timed calls, in milliseconds per frame."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) / frames * 1000)
    return sorted(times)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", default="1,3,5", help="class names per clip to try")
    parser.add_argument("--floors", default="0,0.05,0.1", help="probability floors to try")
    parser.add_argument("--out", type=Path, default=RESULTS / "real_photos.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kairos-photos-") as tmp:
        work = Path(tmp)
        annotations = write_photo_corpus(work / "corpus")
        base = get_config("kairos-real")
        for k in (int(x) for x in args.concepts.split(",")):
            for floor in (float(x) for x in args.floors.split(",")):
                config = dataclasses.replace(base, concepts=k, concept_floor=floor)
                name = f"kairos-real k={k} floor={floor:g}"
                model = create_model(config).eval()
                rows[name] = evaluate(model, work / "corpus" / "videos", annotations, work / name)
        untrained = create_model(dataclasses.replace(base, zero_shot=False)).eval()
        name = "kairos-real with its untrained hierarchy and head (zero_shot off)"
        rows[name] = evaluate(untrained, work / "corpus" / "videos", annotations, work / "untrained")
        small = resolve_model("kairos-small").eval()
        rows["kairos-small (synthetic-trained)"] = evaluate(
            small, work / "corpus" / "videos", annotations, work / "s"
        )
        real = create_model(base).eval()
        cost = {
            "kairos-real: EfficientNet-Lite0 (encode_frames: ONNX Runtime)": frame_cost(real),
            "kairos-small: CNN with glimpse (encode_frames: torch)": frame_cost(small),
        }
    report = {
        "benchmark": "real_photos",
        "machine": machine(),
        "corpus": "4 videos, 12 scikit-image photographs shown 6 s each, 12 hand-written queries",
        "bundled_kairos_real": {"concepts": base.concepts, "concept_floor": base.concept_floor},
        "results": rows,
        "ms_per_frame_one_thread": cost,
    }
    lines = [
        "| model | VCMR 0.5 R@1 | VCMR 0.5 R@5 | SVMR 0.5 R@1 | VR R@1 | VR R@5 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {name} | {r['VCMR_0.5_R@1']:.1f} | {r['VCMR_0.5_R@5']:.1f} | {r['SVMR_0.5_R@1']:.1f} "
            f"| {r['VR_R@1']:.1f} | {r['VR_R@5']:.1f} |"
            for name, r in rows.items()
        ),
        "",
        "| frame features, one thread, ms per frame | encode_frames | torch forward |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {ms['encode_frames']:.1f} | {ms['torch']:.1f} |" for name, ms in cost.items()),
    ]
    write_report(args.out, report, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
