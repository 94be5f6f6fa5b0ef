"""Why visual-only queries miss: which attributes the wrongly top-ranked video gets wrong.

python benchmarks/vr_errors.py --checkpoint NAME=DIR [NAME=DIR ...] [--corpus SYNTH_CORPUS]

VR as in `benchmarks/ablation.py` (a query's video ranked among all held-out videos). For each query of type
`v` whose top-1 video is wrong, the attributes the query names (read back from its text) are compared with
every event of that video, and the closest event's mismatches are counted: "action" means the top video has
an event that differs from the query in its action (among others). Writes benchmarks/results/vr_errors.json
and .md.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.ablation import concatenated
from benchmarks.common import RESULTS, checkpoint_args, machine, synth_plans, write_report
from benchmarks.quality import heldout_corpus
from indexer.annotations import read_annotations
from indexer.dataset import build_dataset
from indexer.synth.plan import VideoPlan
from indexer.synth.queries import VISUAL_KEYS, event_attributes, parse_mentions
from models.checkpoint import load_checkpoint
from models.train import TrainConfig, frame_features, predict


def closest_mismatch(mentions: dict[str, str], plan: VideoPlan) -> tuple[str, ...]:
    """The attributes named in `mentions` that the best-matching event of `plan` gets wrong."""
    best: tuple[str, ...] | None = None
    for event in plan.events:
        has = event_attributes(event, plan.background)
        missed = tuple(key for key in VISUAL_KEYS if key in mentions and mentions[key] != has[key])
        best = missed if best is None or len(missed) < len(best) else best
    return best or ()


def analyse(directory: Path, corpus: Path, annotations: Path, plans: dict[str, VideoPlan]) -> dict[str, Any]:
    """Top-1 hits of the `v` queries and, for the misses, how often each attribute was got wrong."""
    model = load_checkpoint(directory)
    data = build_dataset(corpus, annotations, model, pseudo_queries=False)
    data = dataclasses.replace(data, videos=frame_features(model, data.videos))
    rows = read_annotations(annotations)
    if len(rows) != len(data.queries):
        dropped = len(rows) - len(data.queries)
        raise ValueError(f"{annotations}: {dropped} queries were dropped, so rows and queries do not line up")
    top = predict(model, data, TrainConfig()).scores.argmax(dim=1)
    visual = [i for i, kind in enumerate(data.queries.kind) if kind == "v"]
    misses = [i for i in visual if int(top[i]) != int(data.queries.video[i])]
    by_attribute: Counter[str] = Counter()
    by_set: Counter[str] = Counter()
    for i in misses:
        mentions = parse_mentions(rows[i].text)
        missed = closest_mismatch(mentions, plans[data.videos[int(top[i])].name])
        by_attribute.update(missed)
        by_set["+".join(missed) or "none"] += 1
    return {
        "v_queries": len(visual),
        "top1_hits": len(visual) - len(misses),
        "misses": len(misses),
        "missed_attribute": {key: by_attribute[key] for key in VISUAL_KEYS},
        "missed_sets": dict(by_set.most_common(8)),
    }


def main() -> None:
    args = checkpoint_args(__doc__, RESULTS / "vr_errors.json")
    torch.set_num_threads(1)
    corpus = args.corpus or heldout_corpus()
    plans = synth_plans(corpus)
    notes = corpus / "annotations"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        heldout = concatenated([notes / f"{s}.jsonl" for s in ("train", "val", "test")], Path(tmp))
        for spec in args.checkpoint:
            name, directory = spec.split("=", 1)
            results[name] = analyse(Path(directory), corpus, heldout, plans)
    lines = [
        f"Visual-only queries of `{corpus}` whose top-1 video is wrong: how often the closest event of that",
        "video differs from the query in each attribute (a miss can count under several).",
        "",
        "| checkpoint | v queries | top-1 hits | misses | " + " | ".join(VISUAL_KEYS) + " |",
        "| --- | ---: | ---: | ---: |" + " ---: |" * len(VISUAL_KEYS),
    ]
    for name, r in results.items():
        cells = " | ".join(str(r["missed_attribute"][key]) for key in VISUAL_KEYS)
        lines.append(f"| {name} | {r['v_queries']} | {r['top1_hits']} | {r['misses']} | {cells} |")
    report = {"corpus": str(corpus), "results": results, "machine": machine()}
    write_report(args.out, report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
