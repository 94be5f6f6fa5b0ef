"""Ablations side by side: trained checkpoints evaluated on one held-out corpus, overall and per query type.

python benchmarks/ablation.py --checkpoint NAME=DIR [NAME=DIR ...] [--corpus DIR]

Each checkpoint goes through the evaluation of `kairos train --eval-only` (`commands.train.evaluate`):
VR ranks a query's video among the annotation file's videos; SVMR decodes moments in the gold video. With
no --corpus, the model card's held-out corpus (`benchmarks/quality.py` generates it once). `heldout` is the
corpus' train+val+test annotations together, `compositional` its compositional split (colour x shape pairs
never seen in training). Writes benchmarks/results/ablation.json and ablation.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine, write_json
from benchmarks.quality import heldout_corpus
from commands.train import evaluate

COLUMNS = ("vr_r1", "vr_r10", "svmr_r1_iou0.5", "svmr_r1_iou0.7")


def concatenated(files: list[Path], directory: Path) -> Path:
    """One jsonl file holding the lines of `files`, in order."""
    out = directory / "heldout.jsonl"
    out.write_text("".join(path.read_text() for path in files))
    return out


def table(results: dict[str, dict[str, Any]], split: str) -> list[str]:
    """Markdown rows: one per checkpoint and query type (all, v, t, vt)."""
    lines = [
        f"| {split} | queries | " + " | ".join(COLUMNS) + " |",
        "| --- | ---: |" + " ---: |" * len(COLUMNS),
    ]
    for name, splits in results.items():
        result = splits[split]
        rows = {"all": result["metrics"] | {"queries": result["queries"]}} | result["by_type"]
        for kind, metrics in rows.items():
            values = " | ".join(f"{metrics[c]:.3f}" for c in COLUMNS)
            lines.append(f"| {name} ({kind}) | {int(metrics['queries'])} | {values} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", nargs="+", required=True, help="NAME=DIR, first is the reference")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--out", type=Path, default=RESULTS / "ablation.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = args.corpus or heldout_corpus()
    notes = corpus / "annotations"
    checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        splits = {
            "heldout": concatenated([notes / f"{s}.jsonl" for s in ("train", "val", "test")], Path(tmp)),
            "compositional": notes / "compositional.jsonl",
        }
        for name, directory in checkpoints.items():
            results[name] = {
                split: evaluate(Path(directory), corpus, annotations) for split, annotations in splits.items()
            }
            print(name, {s: round(r["metrics"]["vr_r1"], 3) for s, r in results[name].items()}, flush=True)
    report = {
        "benchmark": "ablation",
        "machine": machine(),
        "corpus": str(corpus),
        "checkpoints": checkpoints,
        "results": results,
    }
    write_json(args.out, report)
    markdown = [f"Held-out corpus `{corpus}`; VR among the split's videos, SVMR in the gold video.", ""]
    for split in ("heldout", "compositional"):
        markdown += [*table(results, split), ""]
    args.out.with_suffix(".md").write_text("\n".join(markdown))
    print("\n".join(markdown))


if __name__ == "__main__":
    main()
