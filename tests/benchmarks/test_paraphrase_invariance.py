"""The paraphrase-invariance benchmark: a clear exit without the TVR file, and real figures on a small one."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from benchmarks import paraphrase_invariance
from tests.conftest import TINY_MODEL

DESCRIPTIONS = [
    "Sheldon sits on the couch and tells Leonard about the train set.",
    "Sheldon is sitting on the couch telling Leonard about his trains.",
    "Penny opens the door and hands Howard a package.",
    "Penny opens  the door and hands Howard a package.",  # the same text once spaces are normalised
    "House throws a ball against the wall while talking to Wilson.",
    "Wilson watches House bounce a ball off the wall of his office.",
    "Castle pours two cups of coffee and gives one to Beckett.",
    "Beckett takes the coffee Castle hands her at the precinct.",
    "Ross shows Rachel a photo of the dinosaur bones.",
    "Monica puts a turkey on her head to cheer Chandler up.",
]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return paraphrase_invariance


def test_a_missing_tvr_file_is_a_clear_error(bench: ModuleType, tmp_path: Path) -> None:
    assert bench.TVR_VAL.parts[-4:] == ("shared", "data", "tvr", "tvr_val_release.jsonl")
    with pytest.raises(SystemExit, match="TVR descriptions not found at .*: pass --tvr"):
        bench.main(["--tvr", str(tmp_path / "absent.jsonl")])


def test_identical_vectors_keep_every_neighbourhood(bench: ModuleType) -> None:
    vectors = bench._unit(np.random.default_rng(0).standard_normal((30, 8)).astype(np.float32))
    stats = bench.neighbourhoods(vectors, vectors, np.arange(5))
    figures = bench.summarise(stats, np.ones(5, dtype=bool))
    assert figures["partner_in_top_k"]["1"] == 1.0 and figures["median_partner_rank"] == 1.0
    assert figures["top10_overlap"] == 1.0 and figures["spearman"] == pytest.approx(1.0)


def test_report_on_real_encoders(bench: ModuleType, tmp_path: Path) -> None:
    tvr = tmp_path / "tvr.jsonl"
    tvr.write_text("".join(json.dumps({"desc": d, "desc_id": i}) + "\n" for i, d in enumerate(DESCRIPTIONS)))
    out = tmp_path / "results" / "invariance.json"
    result = bench.main(["--tvr", str(tvr), "--model", TINY_MODEL, "--anchors", "6", "--out", str(out)])
    assert result["descriptions"] == 9 and result["anchors"] == 6
    assert json.loads(out.read_text())["query_head"] == result["query_head"]
    assert "| all | query_head | 6 |" in out.with_suffix(".md").read_text()
    for name in ("query_head", "random_projection"):
        top = result[name]["all"]["partner_in_top_k"]
        assert (
            0.0 <= top["1"] <= top["5"] <= top["10"] == 1.0
        )  # 8 others: the partner is always in the top 10
        assert sum(result[name][band]["anchors"] for band in bench.BANDS) == 6
