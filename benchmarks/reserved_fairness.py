"""Are the held-out phrasings' reserved words fair? Does the frozen text encoder itself relate each one to
what it stands for?

    python benchmarks/reserved_fairness.py [--out benchmarks/results/reserved_fairness.json]

Each reserved synonym (`indexer.synth.reserved`) and every training word of its attribute (`vocab`) are put
in the same carrier sentence ("a crimson circle" / "a red circle", "a blue circle", ...) and encoded by the
frozen all-MiniLM-L6-v2 (pooled sentence vectors, what the query side starts from). A value scores as the
best cosine of its training words. The word is `fair` when its own value scores first among the
attribute's values: then a query side that keeps the encoder's meaning can find it. A word the encoder
itself puts nearer another value tests the encoder, not the head. `benchmarks/ablation.py --unfair-words`
reads the list to report held-out phrasing figures also without the queries that use such words.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine, write_json
from indexer.synth import reserved, vocab
from models.encoders import TextEncoder

# attribute -> (carrier with {w}, training words per value, reserved words per value)
Attribute = tuple[str, Mapping[str, Sequence[str]], Mapping[str, Sequence[str]]]


def attributes() -> dict[str, Attribute]:
    """The six attributes a held-out phrasing rewords, each with its carrier sentence."""
    topics = {t.key: (t.keyword, t.about) for t in vocab.TOPICS}
    return {
        "colour": ("a {w} circle", {c: (c,) for c in vocab.COLOURS}, reserved.COLOUR_WORDS),
        "shape": ("a red {w}", {s: (s,) for s in vocab.SHAPES}, reserved.SHAPE_WORDS),
        "size": ("a {w} circle", vocab.SIZE_WORDS, reserved.SIZE_WORDS),
        "action": (
            "the square {w}",
            vocab.ACTIONS,
            {k: tuple(finite for finite, _ in forms) for k, forms in reserved.ACTION_WORDS.items()},
        ),
        "background": ("a circle in front of {w}", vocab.BACKGROUNDS, reserved.BACKGROUND_WORDS),
        "topic": (
            "someone talks about {w}",
            topics,
            {k: (about,) for k, (_, about, _) in reserved.TOPIC_WORDS.items()},
        ),
    }


def judge(encoder: TextEncoder, attribute: Attribute) -> list[dict[str, Any]]:
    """One row per reserved word: its value, the value the encoder ranks first, cosines, fair or not."""
    carrier, training, heldout = attribute
    values = list(training)
    train_texts = [carrier.format(w=w) for v in values for w in training[v]]
    owner = torch.tensor([i for i, v in enumerate(values) for _ in training[v]])
    train_vectors = encoder.encode(train_texts).pooled
    rows = []
    for value, words in heldout.items():
        vectors = encoder.encode([carrier.format(w=w) for w in words]).pooled
        cosines = vectors @ train_vectors.t()  # [W, T]
        per_value = torch.full((len(words), len(values)), -2.0).scatter_reduce(
            1, owner.expand(len(words), -1), cosines, reduce="amax"
        )
        for word, scores in zip(words, per_value, strict=True):
            best = int(scores.argmax())
            own = values.index(value)
            rows.append(
                {
                    "word": word,
                    "value": value,
                    "nearest": values[best],
                    "own_cosine": round(float(scores[own]), 3),
                    "best_other_cosine": round(float(scores[torch.arange(len(values)) != own].max()), 3),
                    "fair": best == own,
                }
            )
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "reserved_fairness.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    encoder = TextEncoder("minilm")
    rows = {name: judge(encoder, attribute) for name, attribute in attributes().items()}
    unfair = sorted(r["word"] for group in rows.values() for r in group if not r["fair"])
    report: dict[str, Any] = {
        "benchmark": "reserved_fairness",
        "machine": machine(),
        "encoder": "all-MiniLM-L6-v2 (frozen, pooled)",
        "carriers": {name: attribute[0] for name, attribute in attributes().items()},
        "words": rows,
    }
    fair = {name: sum(r["fair"] for r in group) for name, group in rows.items()}
    total = {name: len(group) for name, group in rows.items()}
    report |= {
        "fair": fair,
        "total": total,
        "unfair_words": unfair,
    }
    write_json(args.out, report)
    lines = [
        "Reserved words the frozen MiniLM relates to their own value (carrier sentences):",
        "",
        "| attribute | word | value | encoder's nearest | own cos | best other cos | fair |",
        "| --- | --- | --- | --- | ---: | ---: | --- |",
    ]
    for name, group in rows.items():
        lines += [
            f"| {name} | {r['word']} | {r['value']} | {r['nearest']} | {r['own_cosine']:.3f} | "
            f"{r['best_other_cosine']:.3f} | {'yes' if r['fair'] else '**no**'} |"
            for r in group
        ]
    lines += ["", f"fair: {sum(fair.values())} of {sum(total.values())}; unfair: {', '.join(unfair)}", ""]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
