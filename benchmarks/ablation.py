"""Ablations side by side: trained checkpoints evaluated on one held-out corpus, overall and per query type.

python benchmarks/ablation.py --checkpoint NAME=DIR [NAME=DIR ...] [--corpus DIR] [--phrasing]
python benchmarks/ablation.py --merge A.json [B.json ...] --out OUT.json   (one table from several runs)

Each checkpoint goes through the evaluation of `kairos train --eval-only` (`commands.train.evaluate`):
VR ranks a query's video among the annotation file's videos; SVMR decodes moments in the gold video. With
no --corpus, the model card's held-out corpus (`benchmarks/quality.py` generates it once). `heldout` is the
corpus' train+val+test annotations together, `compositional` its compositional split (colour x shape pairs
never seen in training). With --phrasing, also `heldout_phrasing`: the same queries in the held-out
phrasings (`annotations/heldout_phrasing/`, words no training phrasing uses), and a table of template vs
held-out phrasing per query type with the ratio; with --unfair-words FILE (`reserved_fairness.json`), both
splits again without the queries whose held-out phrasing uses a word the frozen text encoder itself does
not relate to its meaning (`heldout_fair`, `heldout_phrasing_fair`). Writes benchmarks/results/ablation.json
and ablation.md.
"""

from __future__ import annotations

import argparse
import json
import re
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
from indexer.synth.corpus import heldout_phrasing_dir

COLUMNS = ("vr_r1", "vr_r10", "svmr_r1_iou0.5", "svmr_r1_iou0.7")


def concatenated(files: list[Path], out: Path) -> Path:
    """`out`: one jsonl file holding the lines of `files`, in order."""
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


def without_words(template: Path, phrased: Path, words: list[str], directory: Path) -> tuple[Path, Path]:
    """Both files without the queries whose phrased text uses one of `words` (whole words), by desc_id."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b")
    rows = [json.loads(line) for line in phrased.read_text().splitlines() if line.strip()]
    dropped = {row["desc_id"] for row in rows if pattern.search(row["desc"])}
    out = []
    for path, name in ((template, "heldout_fair.jsonl"), (phrased, "heldout_phrasing_fair.jsonl")):
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["desc_id"] not in dropped]
        out.append(directory / name)
        out[-1].write_text("".join(line + "\n" for line in lines))
    return out[0], out[1]


def phrasing_table(results: dict[str, dict[str, Any]], suffix: str = "") -> list[str]:
    """Markdown rows: per checkpoint and query type, template / held-out phrasing (ratio) of each column."""
    lines = [
        f"| template / held-out phrasing{suffix} (ratio) | " + " | ".join(COLUMNS) + " |",
        "| --- |" + " ---: |" * len(COLUMNS),
    ]
    for name, splits in results.items():
        for kind in ("all", *splits["heldout"]["by_type"]):
            pair = [
                splits[s + suffix]["metrics"] if kind == "all" else splits[s + suffix]["by_type"][kind]
                for s in ("heldout", "heldout_phrasing")
                if kind == "all" or kind in splits[s + suffix]["by_type"]
            ]
            if len(pair) < 2:
                continue
            cells = [
                f"{pair[0][c]:.3f} / {pair[1][c]:.3f} ({pair[1][c] / max(pair[0][c], 1e-9):.2f})"
                for c in COLUMNS
            ]
            lines.append(f"| {name} ({kind}) | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", nargs="+", default=[], help="NAME=DIR, first is the reference")
    parser.add_argument(
        "--merge", nargs="+", type=Path, default=[], help="instead: reports of earlier runs, one table"
    )
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--phrasing", action="store_true", help="also the held-out phrasings")
    parser.add_argument("--unfair-words", type=Path, help="reserved_fairness.json: also without its words")
    parser.add_argument("--out", type=Path, default=RESULTS / "ablation.json")
    args = parser.parse_args()
    if bool(args.checkpoint) == bool(args.merge):
        parser.error("give --checkpoint NAME=DIR ... or --merge REPORT.json ...")
    report = merged(args.merge) if args.merge else evaluated(args)
    write_json(args.out, report)
    results, splits = report["results"], next(iter(report["results"].values()))
    markdown = [
        f"Held-out corpus `{report['corpus']}`; VR among the split's videos, SVMR in the gold video.",
        "",
    ]
    for split in splits:
        markdown += [*table(results, split), ""]
    if "heldout_phrasing" in splits:
        markdown += [*phrasing_table(results), ""]
    if "heldout_fair" in splits:
        markdown += [*phrasing_table(results, "_fair"), ""]
    args.out.with_suffix(".md").write_text("\n".join(markdown))
    print("\n".join(markdown))


def merged(paths: list[Path]) -> dict[str, Any]:
    """One report from several of the same corpus (each run's machine kept under `machines`)."""
    reports = [json.loads(path.read_text()) for path in paths]
    if len({r["corpus"] for r in reports}) > 1:
        raise SystemExit(f"reports of different corpora: {sorted({r['corpus'] for r in reports})}")
    return {
        "benchmark": "ablation",
        "machine": reports[0]["machine"],
        "machines": {name: r["machine"] for r in reports for name in r["results"]},
        "corpus": reports[0]["corpus"],
        "checkpoints": {k: v for r in reports for k, v in r["checkpoints"].items()},
        "results": {k: v for r in reports for k, v in r["results"].items()},
        "merged_from": [str(path) for path in paths],
    }


def evaluated(args: argparse.Namespace) -> dict[str, Any]:
    """Every checkpoint on every split."""
    torch.set_num_threads(1)
    corpus = args.corpus or heldout_corpus()
    notes = corpus / "annotations"
    checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        parts = ("train", "val", "test")
        splits = {
            "heldout": concatenated([notes / f"{s}.jsonl" for s in parts], Path(tmp) / "heldout.jsonl"),
            "compositional": notes / "compositional.jsonl",
        }
        if args.phrasing:
            phrased = [heldout_phrasing_dir(corpus) / f"{s}.jsonl" for s in parts]
            splits["heldout_phrasing"] = concatenated(phrased, Path(tmp) / "heldout_phrasing.jsonl")
        if args.phrasing and args.unfair_words is not None:
            unfair = json.loads(args.unfair_words.read_text())["unfair_words"]
            fair = without_words(splits["heldout"], splits["heldout_phrasing"], unfair, Path(tmp))
            splits["heldout_fair"], splits["heldout_phrasing_fair"] = fair
        for name, directory in checkpoints.items():
            results[name] = {
                split: evaluate(Path(directory), corpus, annotations) for split, annotations in splits.items()
            }
            print(name, {s: round(r["metrics"]["vr_r1"], 3) for s, r in results[name].items()}, flush=True)
    return {
        "benchmark": "ablation",
        "machine": machine(),
        "corpus": str(corpus),
        "checkpoints": checkpoints,
        "results": results,
    }


if __name__ == "__main__":
    main()
