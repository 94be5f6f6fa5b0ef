"""Queries: phrasing templates, the index of all moments, and the uniqueness checker.

A query mentions some attributes: visual ones (shape, colour, size, action, background) and spoken ones
(topic, name, place, number). It matches

- an event, when the event has every mentioned visual attribute and, if spoken attributes are mentioned too,
  a subtitle line lying inside the event has every mentioned spoken attribute (moment: the event's span);
- a subtitle line, when only spoken attributes are mentioned and the line has them all (moment: its span).

Phrasings are chosen so that the attributes a template declares match exactly one moment of the corpus
(construction). `find_ambiguous` then re-reads the attributes from each query's *text* with `parse_mentions`
and checks again against every moment (verification), so a template that says more or less than it
declares is caught too.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from indexer.synth import reserved
from indexer.synth.plan import EventPlan, LinePlan, VideoPlan
from indexer.synth.vocab import ACTIONS, BACKGROUNDS, COLOURS, NAMES, PLACES, SHAPES, SIZE_WORDS, TOPICS

VISUAL_KEYS: tuple[str, ...] = ("shape", "colour", "size", "action", "background")
SPOKEN_KEYS: tuple[str, ...] = ("topic", "name", "place", "number")
TOPIC_BY_KEY = {topic.key: topic for topic in TOPICS}

#: Which attributes each template placeholder mentions.
PLACEHOLDER_KEYS: dict[str, tuple[str, ...]] = {
    "size": ("size",),
    "colour": ("colour",),
    "shape": ("shape",),
    "action": ("action",),
    "acting": ("action",),
    "background": ("background",),
    "about": ("topic",),
    "about_place": ("topic", "place"),
    "amount": ("number",),
    "name": ("name",),
    "place": ("place",),
}

VISUAL_TEMPLATES: tuple[str, ...] = (
    "a {shape} {action}",
    "a {colour} object {action}",
    "the {colour} {shape} {action}",
    "a {size} {shape} {action} over {background}",
    "something {colour} {action} over {background}",
    "a {size} {colour} {shape} {action}",
    "a {colour} {shape} {action} over {background}",
    "over {background}, a {size} {colour} {shape} {action}",
    "a {size} {colour} {shape} {action} over {background}",
)
SPOKEN_TEMPLATES: tuple[str, ...] = (
    "someone talks about {about_place}",
    "{name} talks about {about}",
    "someone talks about {about} and mentions {amount}",
    "someone mentions {name} and {place}",
    "{name} talks about {about_place}",
)
BOTH_TEMPLATES: tuple[str, ...] = (
    "while someone talks about {about_place}, a {shape} {action}",
    "a {colour} {shape} {action} while {name} talks about {about}",
    "while someone mentions {amount}, something {colour} {action}",
    "as {name} talks about {about_place}, a {colour} {shape} {action}",
    "{name} talks about {about_place} while a {size} {colour} {shape} {action}",
)

Moment = tuple[str, float, float]  # vid_name, start, end


def template_keys(template: str) -> frozenset[str]:
    """The attributes a template mentions (declared by its placeholders)."""
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    return frozenset(key for name in fields for key in PLACEHOLDER_KEYS[name])


def event_attributes(event: EventPlan, background: str) -> dict[str, str]:
    """An event's visual attributes."""
    return {
        "shape": event.shape,
        "colour": event.colour,
        "size": event.size,
        "action": event.action,
        "background": background,
    }


def line_attributes(line: LinePlan) -> dict[str, str]:
    """A subtitle line's spoken attributes."""
    return {"topic": line.topic, "name": line.name, "place": line.place, "number": str(line.number)}


def lines_inside(event: EventPlan, lines: Iterable[LinePlan]) -> list[LinePlan]:
    """The subtitle lines spoken entirely while the event is on screen."""
    return [line for line in lines if event.start <= line.start and line.end <= event.end]


@dataclass
class MomentIndex:
    """Every moment of a corpus; answers "which moments match these attributes" via cached projections."""

    events: list[tuple[Moment, dict[str, str], list[dict[str, str]]]] = field(default_factory=list)
    lines: list[tuple[Moment, dict[str, str]]] = field(default_factory=list)
    _cache: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[tuple[str, ...], set[Moment]]] = field(
        default_factory=dict
    )

    @classmethod
    def build(cls, plans: Iterable[VideoPlan]) -> MomentIndex:
        index = cls()
        for plan in plans:
            for event in plan.events:
                inside = [line_attributes(line) for line in lines_inside(event, plan.lines)]
                moment = (plan.vid_name, event.start, event.end)
                index.events.append((moment, event_attributes(event, plan.background), inside))
            index.lines.extend(((plan.vid_name, ln.start, ln.end), line_attributes(ln)) for ln in plan.lines)
        return index

    def matches(self, mentions: Mapping[str, str]) -> set[Moment]:
        """The distinct moments a query mentioning exactly `mentions` describes."""
        visual = tuple(sorted(k for k in mentions if k in VISUAL_KEYS))
        spoken = tuple(sorted(k for k in mentions if k in SPOKEN_KEYS))
        table = self._cache.get((visual, spoken))
        if table is None:
            table = self._project(visual, spoken)
            self._cache[(visual, spoken)] = table
        return table.get(tuple(mentions[k] for k in visual + spoken), set())

    def _project(
        self, visual: tuple[str, ...], spoken: tuple[str, ...]
    ) -> dict[tuple[str, ...], set[Moment]]:
        table: dict[tuple[str, ...], set[Moment]] = {}
        if not visual:
            for moment, attrs in self.lines:
                table.setdefault(tuple(attrs[k] for k in spoken), set()).add(moment)
            return table
        for moment, attrs, inside in self.events:
            seen = tuple(attrs[k] for k in visual)
            for line in inside if spoken else [{}]:
                table.setdefault(seen + tuple(line[k] for k in spoken), set()).add(moment)
        return table


def _word_patterns() -> list[tuple[str, str, re.Pattern[str]]]:
    """(attribute, value, pattern) for every query word of the vocabulary and of the reserved words."""
    pairs: list[tuple[str, str, str]] = [("shape", s, s) for s in SHAPES]
    pairs += [("colour", c, c) for c in COLOURS]
    pairs += [("size", size, word) for size, words in SIZE_WORDS.items() for word in words]
    pairs += [("action", action, phrase) for action, phrases in ACTIONS.items() for phrase in phrases]
    pairs += [("background", bg, phrase) for bg, phrases in BACKGROUNDS.items() for phrase in phrases]
    pairs += [("topic", topic.key, topic.keyword) for topic in TOPICS]
    pairs += [("name", name, name) for name in NAMES] + [("place", place, place) for place in PLACES]
    pairs += _reserved_pairs()
    return [(key, value, re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")) for key, value, word in pairs]


def _reserved_pairs() -> list[tuple[str, str, str]]:
    """(attribute, value, word) for the reserved words of held-out phrasings (`reserved`)."""
    tables: list[tuple[str, Mapping[str, Iterable[str]]]] = [
        ("colour", reserved.COLOUR_WORDS),
        ("shape", reserved.SHAPE_WORDS),
        ("size", reserved.SIZE_WORDS),
        ("background", reserved.BACKGROUND_WORDS),
    ]
    pairs = [(key, value, word) for key, table in tables for value, words in table.items() for word in words]
    pairs += [("action", a, f) for a, forms in reserved.ACTION_WORDS.items() for pair in forms for f in pair]
    return pairs + [("topic", topic, keyword) for topic, (keyword, _, _) in reserved.TOPIC_WORDS.items()]


_PATTERNS = _word_patterns()
_NUMBER = re.compile(r"\b\d+\b")
CONFLICT = "<conflict>"


def parse_mentions(desc: str) -> dict[str, str]:
    """Read back the attributes a query's text mentions; one named twice differently is a conflict."""
    found: dict[str, set[str]] = {}
    for key, value, pattern in _PATTERNS:
        if pattern.search(desc):
            found.setdefault(key, set()).add(value)
    numbers = set(_NUMBER.findall(desc))
    if numbers:
        found["number"] = numbers
    return {key: values.pop() if len(values) == 1 else CONFLICT for key, values in found.items()}


@dataclass(frozen=True)
class Problem:
    """A query that does not describe exactly its own moment."""

    desc_id: int
    desc: str
    matches: int


def find_ambiguous(annotations: Iterable[Mapping[str, object]], index: MomentIndex) -> list[Problem]:
    """Queries whose text-derived attributes match no moment, several moments, or another moment."""
    problems = []
    for ann in annotations:
        desc = str(ann["desc"])
        ts = ann["ts"]
        assert isinstance(ts, list | tuple)
        found = index.matches(parse_mentions(desc))
        if found != {(str(ann["vid_name"]), float(ts[0]), float(ts[1]))}:
            problems.append(Problem(int(str(ann["desc_id"])), desc, len(found)))
    return problems


def render_template(template: str, words: Mapping[str, str]) -> str:
    """Fill a template and fix the English article ("a orange" -> "an orange")."""
    text = template.format(**words)
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


def template_words(
    event: EventPlan | None, background: str, line: LinePlan | None, rng: np.random.Generator
) -> dict[str, str]:
    """Words for every placeholder, with a random choice among synonyms."""
    words: dict[str, str] = {}
    if event is not None:
        words |= {
            "shape": event.shape,
            "colour": event.colour,
            "size": str(rng.choice(SIZE_WORDS[event.size])),
            "action": str(rng.choice(ACTIONS[event.action])),
            "background": str(rng.choice(BACKGROUNDS[background])),
        }
    if line is not None:
        topic = TOPIC_BY_KEY[line.topic]
        words |= {
            "about": topic.about,
            "about_place": topic.about_place.format(place=line.place),
            "amount": topic.amount.format(n=line.number),
            "name": line.name,
            "place": line.place,
        }
    return words


def unique_templates(
    templates: Iterable[str], attrs: Mapping[str, str], moment: Moment, index: MomentIndex
) -> list[str]:
    """The templates whose declared attributes describe `moment` and nothing else."""
    return [
        template
        for template in templates
        if index.matches({key: attrs[key] for key in template_keys(template)}) == {moment}
    ]
