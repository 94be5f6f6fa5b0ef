"""Synthetic corpus: determinism, query uniqueness, annotation validity, what the pixels show, splits, srt."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import srt

from indexer.synth import (
    MomentIndex,
    SynthConfig,
    build_annotations,
    find_ambiguous,
    format_summary,
    generate_corpus,
    parse_mentions,
    plan_corpus,
)
from indexer.synth.corpus import CorpusSummary
from indexer.synth.queries import CONFLICT
from indexer.synth.render import event_pose, render_frames
from indexer.synth.vocab import COLOURS, HELD_OUT_PAIRS

CONFIG = SynthConfig(videos=4, seed=7, min_duration=12.0, max_duration=16.0)
SPLITS = ("train", "val", "test", "compositional")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusSummary]:
    out = tmp_path_factory.mktemp("synth") / "a"
    return out, generate_corpus(out, CONFIG, workers=1)


@pytest.fixture(scope="module")
def corpus_two_workers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "b"
    generate_corpus(out, CONFIG, workers=2)
    return out


def _annotations(out: Path) -> list[dict[str, Any]]:
    return [json.loads(row) for split in SPLITS for row in (out / "annotations" / f"{split}.jsonl").open()]


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _colour_pixels(frame: np.ndarray, colour: str) -> int:
    """Pixels within 45 grey levels (per channel) of an event colour."""
    diff = np.abs(frame.astype(np.int16) - np.array(COLOURS[colour], dtype=np.int16))
    return int((diff.max(axis=2) < 45).sum())


def test_same_seed_gives_identical_files_and_frames_whatever_the_workers(
    corpus: tuple[Path, CorpusSummary], corpus_two_workers: Path
) -> None:
    out, _ = corpus
    for name in ["corpus.json", *(f"annotations/{s}.jsonl" for s in SPLITS)]:
        assert (out / name).read_bytes() == (corpus_two_workers / name).read_bytes(), name
    for srt_file in (out / "videos").glob("*.srt"):
        assert srt_file.read_bytes() == (corpus_two_workers / "videos" / srt_file.name).read_bytes()
    video = sorted((out / "videos").glob("*.mp4"))[0]
    first, second = _decode(video), _decode(corpus_two_workers / "videos" / video.name)
    assert len(first) == len(second) > 0
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_different_seed_gives_a_different_corpus() -> None:
    other = dataclasses.replace(CONFIG, seed=8)
    plans, other_plans = plan_corpus(CONFIG), plan_corpus(other)
    descs = [a["desc"] for a in build_annotations(plans, MomentIndex.build(plans), CONFIG)]
    other_descs = [a["desc"] for a in build_annotations(other_plans, MomentIndex.build(other_plans), other)]
    assert descs != other_descs
    assert not np.array_equal(
        next(render_frames(plans[0], CONFIG)), next(render_frames(other_plans[0], other))
    )


def test_annotations_are_valid_tvr_records(corpus: tuple[Path, CorpusSummary]) -> None:
    out, summary = corpus
    annotations = _annotations(out)
    manifest = json.loads((out / "corpus.json").read_text())
    durations = {v["vid_name"]: v["duration"] for v in manifest["videos"]}
    splits = {v["vid_name"]: v["split"] for v in manifest["videos"]}
    for ann in annotations:
        start, end = ann["ts"]
        assert 0.0 <= start < end <= ann["duration"] == durations[ann["vid_name"]]
        assert ann["split"] == splits[ann["vid_name"]]
        assert ann["type"] in {"v", "t", "vt"}
        visual, spoken = ann["event"]["shape"] is not None, ann["event"]["topic"] is not None
        assert ann["type"] == "v" * visual + "t" * spoken
    assert len({ann["desc_id"] for ann in annotations}) == len(annotations)
    assert {ann["type"] for ann in annotations} == {"v", "t", "vt"}
    assert summary.dropped_queries == 0
    assert sum(summary.queries.values()) == len(annotations)
    for video in manifest["videos"]:
        assert (out / video["file"]).stat().st_size > 0
        assert 3 <= len(video["events"]) <= 8


def test_every_query_matches_exactly_its_moment_at_scale() -> None:
    config = SynthConfig(videos=120, seed=3)
    plans = plan_corpus(config)
    index = MomentIndex.build(plans)
    annotations = build_annotations(plans, index, config)
    assert find_ambiguous(annotations, index) == []
    assert len(annotations) > 120 * 8
    assert any(ann["event"]["action"] and len(ann["mentions"]) <= 3 for ann in annotations)


def test_checker_catches_a_planted_duplicate() -> None:
    plans = plan_corpus(CONFIG)
    index = MomentIndex.build(plans)
    annotations = build_annotations(plans, index, CONFIG)
    assert find_ambiguous(annotations, index) == []
    twin = dataclasses.replace(plans[0], vid_name="planted_twin")
    problems = find_ambiguous(annotations, MomentIndex.build([*plans, twin]))
    first_video = [ann for ann in annotations if ann["vid_name"] == plans[0].vid_name]
    assert {p.desc_id for p in problems} == {ann["desc_id"] for ann in first_video}
    assert all(p.matches == 2 for p in problems)
    moved = dict(annotations[0], ts=[0.0, 1.0], desc_id=10_000)
    assert [p.desc_id for p in find_ambiguous([moved], index)] == [10_000]


def test_parse_mentions_reads_the_attributes_back() -> None:
    assert parse_mentions("a small red circle moves to the left over a grid") == {
        "size": "small",
        "colour": "red",
        "shape": "circle",
        "action": "move_left",
        "background": "grid",
    }
    assert parse_mentions("while Maria talks about the train to Lisbon, a blue star spins") == {
        "name": "Maria",
        "topic": "trains",
        "place": "Lisbon",
        "colour": "blue",
        "shape": "star",
        "action": "rotate",
    }
    assert parse_mentions("a square gets bigger and a bigger one gets smaller")["action"] == CONFLICT


def test_event_colours_are_visible_exactly_when_on_screen(corpus: tuple[Path, CorpusSummary]) -> None:
    out, _ = corpus
    for plan in plan_corpus(CONFIG):
        frames = _decode(out / "videos" / f"{plan.vid_name}.mp4")
        assert len(frames) == round(plan.duration * CONFIG.fps)
        for event in plan.events:
            mid = round((event.start + event.end) / 2 * CONFIG.fps)
            assert _colour_pixels(frames[mid], event.colour) > 150, (plan.vid_name, event)
        for colour in {event.colour for event in plan.events}:
            same = [e for e in plan.events if e.colour == colour]
            for k, frame in enumerate(frames):
                on_screen = any(event_pose(e, k / CONFIG.fps, CONFIG.width, CONFIG.height) for e in same)
                if not on_screen:
                    assert _colour_pixels(frame, colour) < 5, (plan.vid_name, colour, k)


def test_held_out_pairs_only_in_the_compositional_split(corpus: tuple[Path, CorpusSummary]) -> None:
    out, summary = corpus
    manifest = json.loads((out / "corpus.json").read_text())
    assert [tuple(pair) for pair in manifest["held_out_pairs"]] == list(HELD_OUT_PAIRS)
    assert summary.videos["compositional"] >= 1
    for video in manifest["videos"]:
        held_out = [(e["colour"], e["shape"]) in HELD_OUT_PAIRS for e in video["events"]]
        assert all(held_out) if video["split"] == "compositional" else not any(held_out)
    for ann in _annotations(out):
        if ann["split"] == "compositional" and ann["event"]["shape"] is not None:
            assert {"colour", "shape"} <= set(ann["mentions"])


def test_subtitles_parse_and_match_the_t_queries(corpus: tuple[Path, CorpusSummary]) -> None:
    out, summary = corpus
    spans: dict[str, set[tuple[float, float]]] = {}
    for path in sorted((out / "videos").glob("*.srt")):
        cues = list(srt.parse(path.read_text(encoding="utf-8")))
        assert cues and all(cue.content.strip() for cue in cues)
        spans[path.stem] = {(c.start.total_seconds(), c.end.total_seconds()) for c in cues}
    t_queries = [ann for ann in _annotations(out) if ann["type"] == "t"]
    assert len(t_queries) == summary.lines
    for ann in t_queries:
        assert tuple(ann["ts"]) in spans[ann["vid_name"]]


def test_summary_table_names_every_split(corpus: tuple[Path, CorpusSummary]) -> None:
    _, summary = corpus
    table = format_summary(summary)
    assert all(f"| {split} |" in table for split in SPLITS)
    assert "queries by type: v " in table
    assert "/annotations/heldout_phrasing/" in table


def test_config_rejects_impossible_durations() -> None:
    with pytest.raises(ValueError, match="min_duration"):
        SynthConfig(videos=2, seed=0, min_duration=5.0)


def test_heldout_phrasing_files_hold_the_same_queries_in_other_words(
    corpus: tuple[Path, CorpusSummary],
) -> None:
    out, _ = corpus
    for split in SPLITS:
        rows = [json.loads(row) for row in (out / "annotations" / f"{split}.jsonl").open()]
        path = out / "annotations" / "heldout_phrasing" / f"{split}.jsonl"
        heldout = [json.loads(row) for row in path.open()]
        assert [(r["desc_id"], r["vid_name"], r["ts"]) for r in heldout] == [
            (r["desc_id"], r["vid_name"], r["ts"]) for r in rows
        ]
        pairs = zip(heldout, rows, strict=True)
        assert all(h["desc"] != r["desc"] and h["phrasing"] == "heldout" for h, r in pairs)
