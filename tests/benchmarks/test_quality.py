"""The quality report's baselines and bar check, on hand-made vectors (no model, no video)."""

from __future__ import annotations

import importlib
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from models.tvr_metrics import evaluate_submission


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"benchmarks.{name}")


@pytest.fixture(scope="module")
def baselines() -> Any:
    return _load("baselines")


@pytest.fixture(scope="module")
def quality() -> Any:
    return _load("quality")


def _unit(x: float, y: float) -> list[float]:
    v = np.array([x, y], dtype=np.float32)
    return list(v / np.linalg.norm(v))


def test_rank_moments_drops_overlaps_and_repeats_within_a_video(baselines: Any) -> None:
    units = baselines.Units(
        video_idx=np.array([0, 0, 0, 1, 0]),
        spans=np.array([[0, 3], [0.5, 3.5], [6, 9], [0, 3], [0, 3]], dtype=np.float32),
        vectors=np.zeros((5, 2), dtype=np.float32),
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    ranked = baselines.rank_moments(scores, units)
    # unit 1 overlaps unit 0 (IoU 5/7 > 0.5); unit 4 repeats unit 0's span; unit 3 is another video
    assert [p[:3] for p in ranked] == [[0, 0, 3], [0, 6, 9], [1, 0, 3]]
    assert baselines.rank_moments(scores, units, limit=1) == [[0.0, 0.0, 3.0, pytest.approx(0.9)]]


def test_submission_scores_with_the_official_metrics(baselines: Any) -> None:
    # video a: [0, 4] about "x", [4, 8] about "y"; video b: [0, 10] about a mix
    units = baselines.Units(
        video_idx=np.array([0, 0, 1]),
        spans=np.array([[0, 4], [4, 8], [0, 10]], dtype=np.float32),
        vectors=np.array([_unit(1, 0), _unit(0, 1), _unit(1, 1)], dtype=np.float32),
    )
    rows = [
        {"desc_id": 1, "desc": "x", "vid_name": "a", "ts": [0.0, 4.0], "type": "v"},
        {"desc_id": 2, "desc": "y", "vid_name": "a", "ts": [4.5, 8.0], "type": "t"},
        {"desc_id": 3, "desc": "xy", "vid_name": "b", "ts": [0.0, 4.0], "type": "vt"},
    ]
    queries = np.array([_unit(1, 0), _unit(0, 1), _unit(1, 1)], dtype=np.float32)
    sub = baselines.submission(queries, units, rows, {"a": 0, "b": 1})
    assert [e["predictions"][0][:3] for e in sub["VCMR"]] == [[0, 0, 4], [0, 4, 8], [1, 0, 10]]
    assert [len(e["predictions"]) for e in sub["SVMR"]] == [2, 2, 1]
    assert [[p[0] for p in e["predictions"]] for e in sub["VR"]] == [[0, 1], [0, 1], [1, 0]]
    metrics = evaluate_submission(sub, rows)
    # query 3's only span in b is [0, 10] against [0, 4]: IoU 0.4, never a hit
    assert metrics["VCMR"]["0.5-r1"] == pytest.approx(66.67)
    assert metrics["VCMR"]["0.7-r1"] == pytest.approx(66.67)  # 3.5 / 4 = 0.875 for query 2
    assert metrics["VR"]["r1"] == 100.0
    assert metrics["VCMR_by_type"]["vt-0.5-r100"] == 0.0


def test_clip_windows_are_cut_at_the_video_ends(baselines: Any) -> None:
    clips = np.eye(4, dtype=np.float16)
    snap = SimpleNamespace(
        manifest=SimpleNamespace(clip_seconds=1.5),
        videos=lambda: [SimpleNamespace(idx=0, duration=5.0)],
        clip_vectors_at=lambda idx: clips,
    )
    units = baselines.clip_window_units(snap, 1)
    assert units.spans.tolist() == [[0, 3], [0, 4.5], [1.5, 5], [3, 5]]
    assert units.vectors.dtype == np.float32 and len(units) == 4


def test_bar_check_needs_every_vcmr_figure_ahead(quality: Any) -> None:
    keys = [f"{t}-r{k}" for t in (0.5, 0.7) for k in (1, 5, 10, 100)]
    kairos = {"VCMR": dict.fromkeys(keys, 90.0) | {"0.5-r1": 50.0}}
    results = {
        "kairos": kairos,
        "subtitle_lines": {"VCMR": dict.fromkeys(keys, 10.0)},
        "clip_window": {"VCMR": dict.fromkeys(keys, 10.0) | {"0.7-r100": 90.0}},
    }
    bar = quality.bar_check(results)
    assert bar["VCMR 0.5-r1 >= 45"] == {"value": 50.0, "met": True}
    assert bar["ahead of subtitle_lines on every VCMR figure"]["met"]
    assert bar["ahead of clip_window on every VCMR figure"]["not_ahead"] == {"0.7-r100": [90.0, 90.0]}
    assert not bar["all_met"]


def _predictions(rows: list[dict[str, Any]], videos: list[int]) -> dict[str, Any]:
    """A submission that puts each row's annotated span in `videos[i]` first."""
    entries = [
        {"desc_id": r["desc_id"], "desc": r["desc"], "predictions": [[v, *r["ts"], 1.0]]}
        for r, v in zip(rows, videos, strict=True)
    ]
    return {"video2idx": {"a": 0, "b": 1}, "VCMR": entries, "SVMR": entries, "VR": entries}


def test_phrasing_lines_up_template_and_heldout_figures_per_type() -> None:
    phrasing = _load("phrasing")
    rows = [
        {"desc_id": i, "desc": f"q{i}", "vid_name": "a", "ts": [0.0, 4.0], "type": kind}
        for i, kind in enumerate(("v", "v", "t", "vt"))
    ]
    template = evaluate_submission(_predictions(rows, [0, 0, 0, 0]), rows)
    phrased = evaluate_submission(_predictions(rows, [0, 1, 0, 0]), rows)  # one v query finds video b
    comparison = phrasing.compare(template, phrased)
    assert comparison["all"]["template"]["VR r1"] == 100.0
    assert comparison["all"]["heldout_phrasing"]["VR r1"] == 75.0
    assert comparison["v"]["ratio"]["VCMR 0.5-r10"] == 0.5 and comparison["t"]["ratio"]["VR r1"] == 1.0
    assert set(comparison["vt"]["template"]) == set(comparison["all"]["template"])
    bar = phrasing.bar_check(comparison)
    assert (
        not bar["v VR r1 held-out/template >= 0.8"]["met"] and bar["vt VR r1 held-out/template >= 0.8"]["met"]
    )
    assert not bar["all_met"] and "MISSED by v VCMR 0.5-r10" in phrasing.bar_line(bar)
    report = phrasing.report(
        {"heldout": {"kairos": template}, "heldout_phrasing": {"kairos": phrased}}, ["kairos"]
    )
    assert "| v | Kairos | 100.00 / 50.00 (0.50) |" in "\n".join(
        phrasing.markdown(report, {"kairos": "Kairos"})
    )
    phrasing.check_pairs({"heldout": rows, "heldout_phrasing": [dict(r, desc="other") for r in rows]})
    with pytest.raises(SystemExit, match="not heldout in other words"):
        phrasing.check_pairs({"heldout": rows, "heldout_phrasing": rows[1:]})
