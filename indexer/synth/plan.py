"""Scenario planning: which videos, events and subtitle lines the corpus has, before any pixel is drawn.

The whole corpus is planned in one process from one seed, so that event attribute combinations and subtitle
slot combinations can be drawn without replacement across all videos. Rendering then only reads plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from indexer.synth.vocab import (
    ACTIONS,
    BACKGROUNDS,
    COLOURS,
    FORBIDDEN_SHAPE_ACTIONS,
    HELD_OUT_PAIRS,
    NAMES,
    NUMBER_RANGE,
    PLACES,
    SHAPES,
    SIZES,
    TOPICS,
)

SPLITS: tuple[str, ...] = ("train", "val", "test", "compositional")
_DRAW_TRIES = 10_000


@dataclass(frozen=True)
class SynthConfig:
    """What corpus to generate. `videos` counts every video; the compositional split is a share of them."""

    videos: int
    seed: int
    width: int = 320
    height: int = 240
    fps: int = 10  # render frame rate: events are drawn and encoded at this rate
    min_duration: float = 20.0
    max_duration: float = 90.0
    compositional_videos: int | None = None  # None: 10 % of `videos`, at least 1 (none for a single video)
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    queries_per_event: int = 2  # visual-only phrasings per event (distinct templates)
    overlap_probability: float = 0.35  # chance that an event starts while the previous one is on screen
    noise_sigma: float = 3.0  # camera noise, grey levels
    jitter_sigma: float = 0.35  # camera shake, pixels (sub-pixel, bilinear)

    def __post_init__(self) -> None:
        if self.videos < 1 or self.width < 32 or self.height < 32 or self.fps < 1:
            raise ValueError("videos, fps must be >= 1 and width, height >= 32")
        if not 0 <= self.n_compositional() < self.videos:
            raise ValueError("compositional_videos must leave at least one train/val/test video")
        if not 10.0 <= self.min_duration <= self.max_duration:
            raise ValueError("durations must satisfy 10 <= min_duration <= max_duration")

    def n_compositional(self) -> int:
        """Number of compositional-split videos."""
        if self.compositional_videos is not None:
            return self.compositional_videos
        return 0 if self.videos < 2 else max(1, round(0.1 * self.videos))


@dataclass(frozen=True)
class EventPlan:
    """One object doing one action during [start, end); positions are fractions of its screen region."""

    shape: str
    colour: str
    size: str
    action: str
    start: float
    end: float
    region: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the frame
    anchor: tuple[float, float]  # where in the region the object sits / its path crosses, in [0, 1]
    spin: float  # rotation direction and start angle source, in [-1, 1]


@dataclass(frozen=True)
class LinePlan:
    """One spoken subtitle line."""

    topic: str
    name: str
    place: str
    number: int
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class VideoPlan:
    """Everything that happens in one video."""

    vid_name: str
    index: int
    split: str
    duration: float
    background: str
    background_level: float  # brightness of the background pattern in [0, 1]
    events: tuple[EventPlan, ...]
    lines: tuple[LinePlan, ...]


@dataclass
class _Pools:
    """Combinations already used anywhere in the corpus (so every full combination is unique)."""

    events: set[tuple[str, str, str, str, str]] = field(default_factory=set)
    lines: set[tuple[str, str, str]] = field(default_factory=set)


def plan_corpus(config: SynthConfig) -> list[VideoPlan]:
    """Plan every video of the corpus from `config.seed`."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5E]))
    splits = _assign_splits(config.videos - config.n_compositional(), config.split_fractions, rng) + [
        "compositional"
    ] * (config.n_compositional())
    pools = _Pools()
    return [_plan_video(i, split, config, rng, pools) for i, split in enumerate(splits)]


def _assign_splits(n: int, fractions: tuple[float, float, float], rng: np.random.Generator) -> list[str]:
    """Shuffle train/val/test labels over `n` videos; val and test get one video each once n >= 3."""
    n_val = max(1 if n >= 3 else 0, round(fractions[1] * n))
    n_test = max(1 if n >= 3 else 0, round(fractions[2] * n))
    labels = ["val"] * n_val + ["test"] * n_test
    labels = ["train"] * (n - len(labels)) + labels
    return [labels[i] for i in rng.permutation(n)]


def _plan_video(
    index: int, split: str, config: SynthConfig, rng: np.random.Generator, pools: _Pools
) -> VideoPlan:
    frames = int(round(rng.uniform(config.min_duration, config.max_duration) * config.fps))
    duration = frames / config.fps
    background = str(rng.choice(list(BACKGROUNDS)))
    spans = _plan_spans(duration, config, rng)
    regions = _plan_regions(spans, rng)
    events = tuple(
        _draw_event(span, region, background, split, config.fps, rng, pools)
        for span, region in zip(spans, regions, strict=True)
    )
    lines = _plan_lines(events, duration, config.fps, rng, pools)
    return VideoPlan(
        vid_name=f"synth_{index:05d}",
        index=index,
        split=split,
        duration=duration,
        background=background,
        background_level=float(rng.uniform(0.25, 0.45)),
        events=events,
        lines=lines,
    )


def _snap(t: float, fps: int) -> float:
    """Round a time to the frame grid."""
    return round(t * fps) / fps


def _plan_spans(duration: float, config: SynthConfig, rng: np.random.Generator) -> list[tuple[float, float]]:
    """3-8 event spans of 2-12 s, one per equal slot of the video, some pulled back to overlap the last."""
    n = int(rng.integers(3, max(3, min(8, int(duration // 5))) + 1))
    slot = (duration - 1.0) / n
    spans: list[tuple[float, float]] = []
    pulled = False
    for i in range(n):
        length = float(rng.uniform(2.0, max(2.0, min(12.0, 0.85 * slot))))
        start = 0.5 + i * slot + float(rng.uniform(0.0, slot - length))
        if spans and not pulled and rng.random() < config.overlap_probability:
            prev_start, prev_end = spans[-1]
            start = prev_start + float(rng.uniform(0.3, 0.7)) * (prev_end - prev_start)
            pulled = True
        else:
            pulled = False
        spans.append((_snap(start, config.fps), _snap(start + length, config.fps)))
    return spans


def _plan_regions(
    spans: list[tuple[float, float]], rng: np.random.Generator
) -> list[tuple[float, float, float, float]]:
    """Full frame for an event alone on screen; top and bottom halves for two overlapping events."""
    regions: list[tuple[float, float, float, float]] = [(0.0, 0.0, 1.0, 1.0)] * len(spans)
    for i in range(1, len(spans)):
        if spans[i][0] < spans[i - 1][1]:
            top_first = bool(rng.random() < 0.5)
            regions[i - 1] = (0.0, 0.0, 1.0, 0.5) if top_first else (0.0, 0.5, 1.0, 1.0)
            regions[i] = (0.0, 0.5, 1.0, 1.0) if top_first else (0.0, 0.0, 1.0, 0.5)
    return regions


def _allowed_pair(colour: str, shape: str, split: str) -> bool:
    """Held-out colour x shape pairs appear in the compositional split and nowhere else."""
    return ((colour, shape) in HELD_OUT_PAIRS) == (split == "compositional")


def _draw_event(
    span: tuple[float, float],
    region: tuple[float, float, float, float],
    background: str,
    split: str,
    fps: int,
    rng: np.random.Generator,
    pools: _Pools,
) -> EventPlan:
    """Draw an event whose full attribute combination is new to the corpus."""
    for _ in range(_DRAW_TRIES):
        shape = str(rng.choice(SHAPES))
        colour = str(rng.choice(list(COLOURS)))
        size = str(rng.choice(list(SIZES)))
        action = str(rng.choice(list(ACTIONS)))
        combo = (shape, colour, size, action, background)
        if (shape, action) in FORBIDDEN_SHAPE_ACTIONS or not _allowed_pair(colour, shape, split):
            continue
        if combo not in pools.events:
            pools.events.add(combo)
            anchor = (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9)))
            return EventPlan(
                shape, colour, size, action, span[0], span[1], region, anchor, float(rng.uniform(-1, 1))
            )
    raise ValueError(f"the event vocabulary is exhausted for background {background!r}: ask for fewer videos")


def _plan_lines(
    events: tuple[EventPlan, ...], duration: float, fps: int, rng: np.random.Generator, pools: _Pools
) -> tuple[LinePlan, ...]:
    """Subtitle lines: about half the events get a line inside them, then lines fill the free time."""
    taken: list[tuple[float, float]] = []
    for event in events:
        length = event.end - event.start
        if length >= 2.5 and rng.random() < 0.5:
            line_len = float(rng.uniform(1.5, min(4.0, length - 0.4)))
            start = event.start + 0.2 + float(rng.uniform(0.0, length - 0.4 - line_len))
            _try_take(taken, (_snap(start, fps), _snap(start + line_len, fps)))
    t = float(rng.uniform(0.3, 3.0))
    while t < duration - 2.0:
        line_len = float(rng.uniform(1.5, 4.0))
        span = (_snap(t, fps), _snap(min(t + line_len, duration - 0.2), fps))
        _try_take(taken, span)
        t = span[1] + float(rng.uniform(1.0, 7.0))
    return tuple(_draw_line(span, rng, pools) for span in sorted(taken))


def _try_take(taken: list[tuple[float, float]], span: tuple[float, float]) -> None:
    """Keep a line span unless it is too short or touches a span already kept (lines never overlap)."""
    if span[1] - span[0] >= 1.0 and all(span[1] + 0.2 <= s or span[0] >= e + 0.2 for s, e in taken):
        taken.append(span)


def _draw_line(span: tuple[float, float], rng: np.random.Generator, pools: _Pools) -> LinePlan:
    """Draw a subtitle line whose (topic, name, place) combination is new to the corpus."""
    for _ in range(_DRAW_TRIES):
        topic = TOPICS[int(rng.integers(len(TOPICS)))]
        name = str(rng.choice(NAMES))
        place = str(rng.choice(PLACES))
        if (topic.key, name, place) in pools.lines:
            continue
        pools.lines.add((topic.key, name, place))
        number = int(rng.integers(NUMBER_RANGE[0], NUMBER_RANGE[1] + 1))
        template = topic.lines[int(rng.integers(len(topic.lines)))]
        amount = topic.amount.format(n=number)
        text = template.format(name=name, place=place, amount=amount)
        return LinePlan(topic.key, name, place, number, text[0].upper() + text[1:], span[0], span[1])
    raise ValueError("the subtitle vocabulary is exhausted: ask for fewer videos")
