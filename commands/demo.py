"""`kairos demo`: a synthetic corpus generated, indexed with the bundled model, and the queries to try."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from commands.index import index
from indexer.synth import CorpusSummary, SynthConfig, generate_corpus

DEMO_MODEL = "kairos-small"  # the synthetic demo corpus is the world this model was trained on
DEMO_SEED = 2026
DEMO_MAX_DURATION = 45.0  # seconds


def generate(root: Path, videos: int = 12) -> CorpusSummary:
    """The demo corpus in `root/corpus`: `videos` synthetic videos drawn with seed DEMO_SEED."""
    return generate_corpus(
        root / "corpus", SynthConfig(videos=videos, seed=DEMO_SEED, max_duration=DEMO_MAX_DURATION)
    )


def index_demo(root: Path, progress: bool = True) -> dict[str, Any]:
    """Index `root/corpus/videos` into the snapshot root `root/index` with DEMO_MODEL; the index report."""
    return index([str(root / "corpus" / "videos")], root / "index", model=DEMO_MODEL, progress=progress)


def example_queries(corpus: Path, n: int = 3) -> list[dict[str, Any]]:
    """The first query of each type (v, t, vt) in the corpus's train annotations, as their TVR rows."""
    rows = [json.loads(line) for line in (corpus / "annotations" / "train.jsonl").read_text().splitlines()]
    picked: dict[str, dict[str, Any]] = {}
    for row in rows:
        picked.setdefault(row["type"], row)
    return list(picked.values())[:n]
