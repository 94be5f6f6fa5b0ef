"""Linear probe: which event attributes a checkpoint's visual backbone reads on videos it never saw.

python benchmarks/visual_probe.py --checkpoint NAME=DIR [NAME=DIR ...] [--corpus SYNTH_CORPUS]

The clips of a `kairos synth` corpus (default: the model card's held-out corpus) that show exactly one event
from start to end get their frame features from each backbone (the 3 frames concatenated). The event's
attributes come from the corpus plan (`corpus.json` holds the generator config). A logistic regression per
attribute is fitted on the clips of 60 % of the videos and scored on the other 40 %; chance is one over the
attribute's number of values. For reference, the action is also read from no learnt feature at all: the
glimpse's own statistics per frame (centre of the colourful pixels, whether any were seen, how many) and their
frame-to-frame differences, by gradient-boosted trees and by a logistic regression (`action_from_cues`): how
much of the motion a non-linear reader finds in the pixels. Writes benchmarks/results/visual_probe.json
and .md.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from torch import Tensor

from benchmarks.common import RESULTS, checkpoint_args, machine, synth_plans, write_report
from benchmarks.quality import heldout_corpus
from indexer.dataset import build_dataset
from indexer.synth.plan import EventPlan, VideoPlan
from indexer.synth.queries import event_attributes
from models.checkpoint import load_checkpoint
from models.encoders import CUES, frame_cues
from models.model import KairosModel

ATTRIBUTES = ("colour", "shape", "size", "action", "background")
TRAIN_SHARE = 0.6


def whole_events(plan: VideoPlan, n_clips: int, seconds: float) -> Iterator[tuple[int, EventPlan]]:
    """(clip, event) for each clip that shows exactly one event, from the clip's start to its end."""
    for clip in range(n_clips):
        start, end = clip * seconds, (clip + 1) * seconds
        touching = [e for e in plan.events if e.start < end and start < e.end]
        if len(touching) == 1 and touching[0].start <= start and end <= touching[0].end:
            yield clip, touching[0]


def one_event_clips(
    model: KairosModel, corpus: Path, splits: list[Path], plans: dict[str, VideoPlan]
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """uint8 frames [N,F,H,W,3], attributes [N,5] and video index [N] of the clips showing one whole event."""
    frames, labels, owners = [], [], []
    for split in splits:
        for video in build_dataset(corpus, split, model, pseudo_queries=False).videos:
            plan = plans[video.name]
            for clip, event in whole_events(plan, video.n_clips, model.config.clip_seconds):
                has = event_attributes(event, plan.background)
                frames.append(video.frames[clip])
                labels.append(tuple(has[name] for name in ATTRIBUTES))
                owners.append(plan.index)
    if not frames:
        raise SystemExit(f"{corpus}: no clip shows one whole event")
    return torch.stack(frames), np.array(labels), np.array(owners)


def clip_features(model: KairosModel, frames: Tensor, chunk: int = 128) -> Tensor:
    """uint8 clips [N,F,H,W,3] -> their frame features concatenated [N,F*Dv], `chunk` clips at a time."""
    return torch.cat(
        [model.encode_frames(part.flatten(0, 1)).view(len(part), -1) for part in frames.split(chunk)]
    )


def glimpse_cues(model: KairosModel, frames: Tensor) -> np.ndarray:
    """uint8 clips [N,F,H,W,3] -> [N, 4F + 4(F-1)]: per frame the glimpse's centre (x, y), whether colour was
    seen and the colourful pixels' total weight / 100, then the differences of adjacent frames."""
    n, f = frames.shape[:2]
    pixels = model.visual.preprocess(frames.flatten(0, 1))  # [N*F,3,h,w] in [-1,1]
    cues = frame_cues(pixels).view(n, f, CUES)
    return torch.cat([cues.flatten(1), (cues[:, 1:] - cues[:, :-1]).flatten(1)], dim=1).numpy()


def action_from_cues(
    model: KairosModel, frames: Tensor, action: np.ndarray, fit: np.ndarray
) -> dict[str, float]:
    """Test accuracy of trees and of a logistic regression reading the action from `glimpse_cues`."""
    x = glimpse_cues(model, frames)
    trees = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(x[fit], action[fit])
    z = (x - x[fit].mean(0)) / (x[fit].std(0) + 1e-6)
    linear = LogisticRegression(max_iter=3000).fit(z[fit], action[fit])
    return {
        "trees": round(float(trees.score(x[~fit], action[~fit])), 3),
        "linear": round(float(linear.score(z[~fit], action[~fit])), 3),
    }


def probe(model: KairosModel, corpus: Path, plans: dict[str, VideoPlan]) -> dict[str, Any]:
    """Test accuracy (and chance) of a linear classifier per attribute; the action read from the cues."""
    frames, y, owner = one_event_clips(model, corpus, sorted((corpus / "annotations").glob("*.jsonl")), plans)
    model.eval()
    with torch.no_grad():
        x = clip_features(model, frames).float().numpy()
    videos = np.unique(owner)
    fit = np.isin(owner, videos[: round(TRAIN_SHARE * len(videos))])
    mean, std = x[fit].mean(0), x[fit].std(0) + 1e-6
    x = (x - mean) / std
    result: dict[str, Any] = {"train_clips": int(fit.sum()), "test_clips": int((~fit).sum())}
    for k, name in enumerate(ATTRIBUTES):
        classifier = LogisticRegression(max_iter=2000, C=0.5).fit(x[fit], y[fit, k])
        result[name] = {
            "accuracy": round(float(classifier.score(x[~fit], y[~fit, k])), 3),
            "chance": round(1 / len(np.unique(y[:, k])), 3),
        }
    result["action_from_cues"] = action_from_cues(model, frames, y[:, ATTRIBUTES.index("action")], fit)
    return result


def main() -> None:
    args = checkpoint_args(__doc__, RESULTS / "visual_probe.json")
    torch.set_num_threads(1)
    corpus = args.corpus or heldout_corpus()
    plans = synth_plans(corpus)
    results = {}
    for spec in args.checkpoint:
        name, directory = spec.split("=", 1)
        results[name] = probe(load_checkpoint(directory), corpus, plans)
    lines = [
        f"Linear probe on `{corpus}`: test accuracy (chance) per attribute, clips of unseen videos.",
        "",
        "Last column: the action read from the glimpse's cues alone, no learnt feature (trees / linear).",
        "",
        "| checkpoint | clips (fit / test) | " + " | ".join(ATTRIBUTES) + " | action from cues |",
        "| --- | ---: |" + " ---: |" * len(ATTRIBUTES) + " ---: |",
    ]
    for name, r in results.items():
        cells = " | ".join(f"{r[a]['accuracy']:.3f} ({r[a]['chance']:.3f})" for a in ATTRIBUTES)
        cues = f"{r['action_from_cues']['trees']:.3f} / {r['action_from_cues']['linear']:.3f}"
        lines.append(f"| {name} | {r['train_clips']} / {r['test_clips']} | {cells} | {cues} |")
    report = {"corpus": str(corpus), "results": results, "machine": machine()}
    write_report(args.out, report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
