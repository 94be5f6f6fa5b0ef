"""Corpus assembly: plan, render (optionally in a process pool), phrase, verify and write everything."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import srt

from indexer.synth.phrasing import heldout_phrasings
from indexer.synth.plan import SPLITS, EventPlan, LinePlan, SynthConfig, VideoPlan, plan_corpus
from indexer.synth.queries import (
    BOTH_TEMPLATES,
    SPOKEN_KEYS,
    SPOKEN_TEMPLATES,
    VISUAL_KEYS,
    VISUAL_TEMPLATES,
    MomentIndex,
    event_attributes,
    find_ambiguous,
    line_attributes,
    lines_inside,
    render_template,
    template_keys,
    template_words,
    unique_templates,
)
from indexer.synth.render import render_video
from indexer.synth.vocab import ACTIONS, BACKGROUNDS, COLOURS, HELD_OUT_PAIRS, SHAPES, SIZES, TOPICS

Annotation = dict[str, Any]
HELDOUT_PHRASING_DIR = "heldout_phrasing"  # under annotations/: its own folder, so `*.jsonl` globs miss it


@dataclasses.dataclass(frozen=True)
class CorpusSummary:
    """What `generate_corpus` wrote, for people (see `format_summary`) and benchmarks."""

    out: str
    seed: int
    videos: dict[str, int]
    hours: dict[str, float]
    events: int
    lines: int
    queries: dict[str, int]  # per type: v, t, vt
    queries_per_split: dict[str, int]
    shapes: dict[str, int]
    colours: dict[str, int]
    actions: dict[str, int]
    dropped_queries: int
    video_seconds: float
    elapsed_s: float


def generate_corpus(out: Path | str, config: SynthConfig, workers: int = 1) -> CorpusSummary:
    """Generate the corpus described by `config` under `out`; the same config gives the same files."""
    started = time.perf_counter()
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    plans = plan_corpus(config)
    _render_all(plans, config, out / "videos", workers)
    for plan in plans:
        _write_srt(plan, out / "videos" / f"{plan.vid_name}.srt")
    index = MomentIndex.build(plans)
    annotations = build_annotations(plans, index, config)
    bad = {problem.desc_id for problem in find_ambiguous(annotations, index)}
    annotations = [ann for ann in annotations if ann["desc_id"] not in bad]
    _write_annotations(annotations, out / "annotations")
    _write_annotations(verified_heldout_phrasings(annotations, index, config), heldout_phrasing_dir(out))
    _write_manifest(plans, annotations, config, out / "corpus.json")
    return _summarise(out, plans, annotations, config, len(bad), time.perf_counter() - started)


def heldout_phrasing_dir(corpus: Path) -> Path:
    """Where a corpus keeps the held-out phrasings of its queries (`{split}.jsonl`, same desc_ids)."""
    return corpus / "annotations" / HELDOUT_PHRASING_DIR


def verified_heldout_phrasings(
    annotations: list[Annotation], index: MomentIndex, config: SynthConfig
) -> list[Annotation]:
    """The held-out phrasings of `annotations`; each must read as exactly its own moment, as its template."""
    rephrased = heldout_phrasings(annotations, config.seed)
    problems = find_ambiguous(rephrased, index)
    if problems:
        count = len(problems)
        raise ValueError(f"{count} held-out phrasings match no, several or another moment: {problems[:2]}")
    return rephrased


def _render_all(plans: list[VideoPlan], config: SynthConfig, folder: Path, workers: int) -> None:
    """Render every video, in `workers` spawned processes when more than one."""
    paths = [folder / f"{plan.vid_name}.mp4" for plan in plans]
    if workers <= 1:
        for plan, path in zip(plans, paths, strict=True):
            render_video(plan, config, path)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(render_video, plans, [config] * len(plans), paths))


def _write_srt(plan: VideoPlan, path: Path) -> None:
    subtitles = [
        srt.Subtitle(i + 1, timedelta(seconds=line.start), timedelta(seconds=line.end), line.text)
        for i, line in enumerate(plan.lines)
    ]
    path.write_text(srt.compose(subtitles), encoding="utf-8")


def build_annotations(plans: list[VideoPlan], index: MomentIndex, config: SynthConfig) -> list[Annotation]:
    """All queries of the corpus, with sequential `desc_id`s, in video order."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0xA77]))
    annotations: list[Annotation] = []
    for plan in plans:
        for event in plan.events:
            annotations += _event_queries(plan, event, index, config.queries_per_event, rng)
        annotations += [_line_query(plan, line, index, rng) for line in plan.lines]
    for desc_id, ann in enumerate(annotations):
        ann["desc_id"] = desc_id
    return annotations


def _templates_for(plan: VideoPlan, templates: Iterable[str]) -> list[str]:
    """Compositional queries always name the held-out colour x shape pair."""
    if plan.split != "compositional":
        return list(templates)
    return [t for t in templates if {"colour", "shape"} <= template_keys(t)]


def _event_queries(
    plan: VideoPlan, event: EventPlan, index: MomentIndex, count: int, rng: np.random.Generator
) -> list[Annotation]:
    """Up to `count` visual-only phrasings of the event, plus one with a line spoken during it, if any."""
    moment = (plan.vid_name, event.start, event.end)
    attrs = event_attributes(event, plan.background)
    chosen = unique_templates(_templates_for(plan, VISUAL_TEMPLATES), attrs, moment, index)
    out = [
        _annotation(plan, event, None, str(template), rng)
        for template in rng.permutation(np.array(chosen, dtype=object))[:count]
    ]
    inside = lines_inside(event, plan.lines)
    if inside:
        line = inside[int(rng.integers(len(inside)))]
        both = unique_templates(
            _templates_for(plan, BOTH_TEMPLATES), attrs | line_attributes(line), moment, index
        )
        if both:
            out.append(_annotation(plan, event, line, str(both[int(rng.integers(len(both)))]), rng))
    return out


def _line_query(plan: VideoPlan, line: LinePlan, index: MomentIndex, rng: np.random.Generator) -> Annotation:
    """One subtitle-only phrasing of the line (the full one is unique by construction)."""
    moment = (plan.vid_name, line.start, line.end)
    chosen = unique_templates(SPOKEN_TEMPLATES, line_attributes(line), moment, index)
    return _annotation(plan, None, line, chosen[int(rng.integers(len(chosen)))], rng)


def _annotation(
    plan: VideoPlan, event: EventPlan | None, line: LinePlan | None, template: str, rng: np.random.Generator
) -> Annotation:
    """One TVR-format record (plus `event`, `split` and `mentions`)."""
    span = event if event is not None else line
    assert span is not None
    attrs: dict[str, str | int | None] = dict.fromkeys(VISUAL_KEYS + SPOKEN_KEYS)
    if event is not None:
        attrs |= event_attributes(event, plan.background)
    if line is not None:
        attrs |= line_attributes(line) | {"number": line.number}
    kind = ("v" if event is not None else "") + ("t" if line is not None else "")
    return {
        "vid_name": plan.vid_name,
        "duration": plan.duration,
        "ts": [span.start, span.end],
        "desc": render_template(template, template_words(event, plan.background, line, rng)),
        "type": kind,
        "desc_id": -1,
        "event": attrs,
        "split": plan.split,
        "mentions": sorted(template_keys(template)),
    }


def _write_annotations(annotations: list[Annotation], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        rows = [json.dumps(ann, ensure_ascii=False) for ann in annotations if ann["split"] == split]
        (folder / f"{split}.jsonl").write_text("".join(row + "\n" for row in rows), encoding="utf-8")


def _write_manifest(
    plans: list[VideoPlan], annotations: list[Annotation], config: SynthConfig, path: Path
) -> None:
    manifest = {
        "format": "kairos-synth/1",
        "seed": config.seed,
        "config": dataclasses.asdict(config),
        "render_fps": config.fps,
        "held_out_pairs": [list(pair) for pair in HELD_OUT_PAIRS],
        "heldout_phrasing": f"annotations/{HELDOUT_PHRASING_DIR}",
        "vocabulary": {
            "shapes": list(SHAPES),
            "colours": list(COLOURS),
            "sizes": list(SIZES),
            "actions": list(ACTIONS),
            "backgrounds": list(BACKGROUNDS),
            "topics": [topic.key for topic in TOPICS],
        },
        "videos": [_video_entry(plan) for plan in plans],
        "counts": {
            "videos": dict(Counter(plan.split for plan in plans)),
            "events": sum(len(plan.events) for plan in plans),
            "lines": sum(len(plan.lines) for plan in plans),
            "queries": dict(Counter(str(ann["type"]) for ann in annotations)),
        },
    }
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _video_entry(plan: VideoPlan) -> dict[str, Any]:
    return {
        "vid_name": plan.vid_name,
        "file": f"videos/{plan.vid_name}.mp4",
        "subtitles": f"videos/{plan.vid_name}.srt",
        "duration": plan.duration,
        "split": plan.split,
        "background": plan.background,
        "events": [dataclasses.asdict(event) for event in plan.events],
    }


def _summarise(
    out: Path,
    plans: list[VideoPlan],
    annotations: list[Annotation],
    config: SynthConfig,
    dropped: int,
    elapsed: float,
) -> CorpusSummary:
    events = [event for plan in plans for event in plan.events]
    seconds: dict[str, float] = dict.fromkeys(SPLITS, 0.0)
    for plan in plans:
        seconds[plan.split] += plan.duration
    return CorpusSummary(
        out=str(out),
        seed=config.seed,
        videos={split: sum(plan.split == split for plan in plans) for split in SPLITS},
        hours={split: seconds[split] / 3600 for split in SPLITS},
        events=len(events),
        lines=sum(len(plan.lines) for plan in plans),
        queries={kind: sum(ann["type"] == kind for ann in annotations) for kind in ("v", "t", "vt")},
        queries_per_split={split: sum(ann["split"] == split for ann in annotations) for split in SPLITS},
        shapes=dict(Counter(event.shape for event in events).most_common()),
        colours=dict(Counter(event.colour for event in events).most_common()),
        actions=dict(Counter(event.action for event in events).most_common()),
        dropped_queries=dropped,
        video_seconds=sum(seconds.values()),
        elapsed_s=elapsed,
    )


def format_summary(summary: CorpusSummary) -> str:
    """A readable report of a generated corpus."""
    rows = ["| split | videos | hours | queries |", "| --- | ---: | ---: | ---: |"]
    rows += [
        f"| {split} | {summary.videos[split]} | {summary.hours[split]:.2f} | {n} |"
        for split, n in summary.queries_per_split.items()
    ]
    total_queries = sum(summary.queries.values())
    rows.append(
        f"| **all** | {sum(summary.videos.values())} | {sum(summary.hours.values()):.2f} | {total_queries} |"
    )
    speed = summary.video_seconds / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
    return "\n".join(
        [
            f"Synthetic corpus in {summary.out} (seed {summary.seed})",
            "",
            *rows,
            "",
            f"events: {summary.events}   subtitle lines: {summary.lines}",
            "queries by type: " + ", ".join(f"{k} {v}" for k, v in summary.queries.items()),
            f"dropped ambiguous queries: {summary.dropped_queries}",
            f"the same queries in held-out phrasings (evaluation only): {summary.out}/annotations/"
            f"{HELDOUT_PHRASING_DIR}/",
            "shapes: " + _counts(summary.shapes),
            "colours: " + _counts(summary.colours),
            "actions: " + _counts(summary.actions),
            f"generated {summary.video_seconds:.0f} video-seconds in {summary.elapsed_s:.1f} s"
            f" ({speed:.1f} x real time)",
        ]
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items())
