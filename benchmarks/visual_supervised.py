"""How fast a fresh visual backbone learns each event attribute when it is trained on the attributes directly.

python benchmarks/visual_supervised.py --train-corpus SYNTH_CORPUS [--model NAME ...] [--corpus SYNTH_CORPUS]
                                       [--steps 300] [--every 100] [--out FILE]

For each model architecture (a registry name), a randomly initialised backbone plus one linear classifier per
attribute over a clip's frame features (the 3 frames concatenated) is trained with cross-entropy on the clips
of the training corpus' `train` split that show one whole event (labels from the corpus plan; batches of 64,
AdamW lr 1e-3; batches and classifiers from seed 0, the backbone from torch's default seed), and scored every
`--every` steps on those clips of every split of `--corpus` (default: the model card's held-out corpus). A
backbone that cannot learn an attribute from its labels will not learn it from sentences either, and this
check takes minutes where a visual warm-up takes an hour. Writes
benchmarks/results/visual_supervised.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from torch import Tensor, nn

from benchmarks.common import RESULTS, machine, synth_plans, write_report
from benchmarks.quality import heldout_corpus
from benchmarks.visual_probe import ATTRIBUTES, clip_features, one_event_clips
from indexer.synth.vocab import ACTIONS, BACKGROUNDS, COLOURS, SHAPES, SIZES
from models.model import KairosModel
from models.registry import create_model

VALUES: dict[str, list[str]] = {
    "colour": list(COLOURS),
    "shape": list(SHAPES),
    "size": list(SIZES),
    "action": list(ACTIONS),
    "background": list(BACKGROUNDS),
}
BATCH = 64


def labelled_clips(model: KairosModel, corpus: Path, splits: list[Path]) -> tuple[Tensor, Tensor]:
    """uint8 frames [N,F,H,W,3] and attribute indices [N,5] of the clips that show one whole event."""
    frames, labels, _ = one_event_clips(model, corpus, splits, synth_plans(corpus))
    indices = [
        [VALUES[name].index(value) for name, value in zip(ATTRIBUTES, row, strict=True)] for row in labels
    ]
    return frames, torch.tensor(indices)


def train_and_score(
    model: KairosModel,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    steps: int,
    every: int,
    lr: float = 1e-3,
) -> list[dict[str, Any]]:
    """Train `model.visual` and linear heads on `train`; test accuracy per attribute every `every` steps."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    cfg = model.config
    heads = nn.ModuleList(
        [nn.Linear(cfg.frames_per_clip * cfg.visual_dim, len(VALUES[a])) for a in ATTRIBUTES]
    )
    params = list(model.visual.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    frames, labels = train
    started, history = time.perf_counter(), []
    for step in range(1, steps + 1):
        model.visual.train()
        chosen = torch.randint(len(frames), (BATCH,), generator=generator)
        feats = clip_features(model, frames[chosen])
        loss = torch.stack(
            [F.cross_entropy(head(feats), labels[chosen, k]) for k, head in enumerate(heads)]
        ).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % every == 0 or step == steps:
            history.append(
                {
                    "step": step,
                    "loss": round(float(loss.detach()), 3),
                    "seconds": round(time.perf_counter() - started, 1),
                }
                | _accuracy(model, heads, test)
            )
            print(history[-1], flush=True)
    return history


@torch.no_grad()
def _accuracy(model: KairosModel, heads: nn.ModuleList, test: tuple[Tensor, Tensor]) -> dict[str, float]:
    model.visual.eval()
    frames, labels = test
    feats = clip_features(model, frames)
    return {
        name: round(float((head(feats).argmax(1) == labels[:, k]).float().mean()), 3)
        for k, (name, head) in enumerate(zip(ATTRIBUTES, heads, strict=True))
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-corpus", type=Path, required=True, help="a kairos synth corpus")
    parser.add_argument("--corpus", type=Path, help="a kairos synth corpus to score on (default: held-out)")
    parser.add_argument("--model", nargs="+", default=["kairos-small"], help="registry names")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS / "visual_supervised.json")
    args = parser.parse_args()
    corpus = args.corpus or heldout_corpus()
    results: dict[str, Any] = {}
    for name in args.model:
        model = create_model(name)
        train = labelled_clips(model, args.train_corpus, [args.train_corpus / "annotations" / "train.jsonl"])
        test = labelled_clips(model, corpus, sorted((corpus / "annotations").glob("*.jsonl")))
        results[name] = {
            "train_clips": len(train[0]),
            "test_clips": len(test[0]),
            "history": train_and_score(model, train, test, args.steps, args.every),
        }
    lines = [
        f"Fresh backbones trained on the attributes of `{args.train_corpus}`, test accuracy on `{corpus}`:",
        "",
        "| model | step | loss | seconds | " + " | ".join(ATTRIBUTES) + " |",
        "| --- | ---: | ---: | ---: |" + " ---: |" * len(ATTRIBUTES),
    ]
    for name, r in results.items():
        for row in r["history"]:
            cells = " | ".join(f"{row[a]:.3f}" for a in ATTRIBUTES)
            lines.append(f"| {name} | {row['step']} | {row['loss']:.3f} | {row['seconds']:.0f} | {cells} |")
    report = {"train_corpus": str(args.train_corpus), "corpus": str(corpus), "results": results}
    write_report(args.out, report | {"machine": machine()}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
