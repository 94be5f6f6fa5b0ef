"""Held-out phrasings: each query again (same desc_id, moment and mentioned attributes) in reserved words.

A held-out phrasing takes a frame of `reserved.FRAMES` that mentions exactly the attributes its template
did and fills it with `reserved` synonyms, so the two differ only in wording: "a red circle moves to the
left" becomes e.g. "a crimson disc gliding leftwards". Uniqueness carries over (same attributes, same
moment) and is checked again from the text by `queries.find_ambiguous`, which reads the reserved words too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from indexer.synth import reserved
from indexer.synth.queries import render_template, template_keys

Annotation = dict[str, Any]
SEED_STREAM = 0x9A7A  # the held-out phrasings' own random stream: template annotations are unchanged


def frames_by_keys() -> dict[frozenset[str], tuple[str, ...]]:
    """The held-out frames grouped by the attributes they mention."""
    groups: dict[frozenset[str], tuple[str, ...]] = {}
    for frame in reserved.FRAMES:
        groups[template_keys(frame)] = (*groups.get(template_keys(frame), ()), frame)
    return groups


FRAMES_BY_KEYS = frames_by_keys()


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def heldout_words(event: Mapping[str, Any], rng: np.random.Generator) -> dict[str, str]:
    """Reserved words for every placeholder of a frame, from an annotation's `event` attributes."""
    words: dict[str, str] = {}
    if event["shape"] is not None:
        forms = reserved.ACTION_WORDS[event["action"]]
        finite, participle = forms[int(rng.integers(len(forms)))]
        words |= {
            "shape": _pick(reserved.SHAPE_WORDS[event["shape"]], rng),
            "colour": _pick(reserved.COLOUR_WORDS[event["colour"]], rng),
            "size": _pick(reserved.SIZE_WORDS[event["size"]], rng),
            "action": finite,
            "acting": participle,
            "background": _pick(reserved.BACKGROUND_WORDS[event["background"]], rng),
        }
    if event["topic"] is not None:
        _, about, about_place = reserved.TOPIC_WORDS[event["topic"]]
        words |= {
            "about": about,
            "about_place": about_place.format(place=event["place"]),
            "amount": reserved.AMOUNT.format(n=event["number"]),
            "name": event["name"],
            "place": event["place"],
        }
    return words


def heldout_phrasings(annotations: Iterable[Annotation], seed: int) -> list[Annotation]:
    """Every annotation again, its `desc` in a held-out frame with reserved words (`phrasing`: heldout)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, SEED_STREAM]))
    out = []
    for ann in annotations:
        frame = _pick(FRAMES_BY_KEYS[frozenset(ann["mentions"])], rng)
        desc = render_template(frame, heldout_words(ann["event"], rng))
        out.append(ann | {"desc": desc, "phrasing": "heldout"})
    return out


def content_words(text: str) -> set[str]:
    """The lower-cased words of a text (split at anything not a letter), closed-class words left out."""
    return set(re.findall(r"[a-z]+", text.lower())) - reserved.FUNCTION_WORDS


def reserved_vocabulary() -> set[str]:
    """Every content word a held-out phrasing can add to names, places and numbers."""
    phrases = [*reserved.FRAMES, reserved.AMOUNT]
    tables: list[Mapping[str, tuple[str, ...]]] = [
        reserved.COLOUR_WORDS,
        reserved.SHAPE_WORDS,
        reserved.SIZE_WORDS,
        reserved.BACKGROUND_WORDS,
        reserved.TOPIC_WORDS,
    ]
    phrases += [word for table in tables for words in table.values() for word in words]
    phrases += [form for forms in reserved.ACTION_WORDS.values() for pair in forms for form in pair]
    return set().union(*(content_words(re.sub(r"\{\w+\}", " ", phrase)) for phrase in phrases))
