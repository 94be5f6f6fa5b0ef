"""Held-out phrasings: reserved words never in training phrasings, same queries and moments, read back."""

from __future__ import annotations

import dataclasses
import re

import pytest

from indexer.synth import (
    MomentIndex,
    SynthConfig,
    build_annotations,
    find_ambiguous,
    heldout_phrasings,
    parse_mentions,
    plan_corpus,
)
from indexer.synth.corpus import verified_heldout_phrasings
from indexer.synth.phrasing import FRAMES_BY_KEYS, content_words, reserved_vocabulary
from indexer.synth.queries import BOTH_TEMPLATES, SPOKEN_TEMPLATES, VISUAL_TEMPLATES, template_keys
from indexer.synth.vocab import ACTIONS, BACKGROUNDS, COLOURS, NAMES, PLACES, SHAPES, SIZE_WORDS, TOPICS

TEMPLATES = VISUAL_TEMPLATES + SPOKEN_TEMPLATES + BOTH_TEMPLATES
CONFIG = SynthConfig(videos=120, seed=3)


@pytest.fixture(scope="module")
def queries() -> tuple[list[dict[str, object]], list[dict[str, object]], MomentIndex, list[str]]:
    plans = plan_corpus(CONFIG)
    index = MomentIndex.build(plans)
    annotations = build_annotations(plans, index, CONFIG)
    lines = [line.text for plan in plans for line in plan.lines]
    return annotations, heldout_phrasings(annotations, CONFIG.seed), index, lines


def _words(texts: list[str]) -> set[str]:
    return set().union(*(content_words(re.sub(r"\{\w+\}", " ", text)) for text in texts))


def test_training_phrasings_and_subtitles_never_use_a_reserved_word(queries: tuple) -> None:
    annotations, _, _, lines = queries
    vocabulary = [*TEMPLATES, *SHAPES, *COLOURS, *(w for words in SIZE_WORDS.values() for w in words)]
    vocabulary += [w for table in (ACTIONS, BACKGROUNDS) for words in table.values() for w in words]
    vocabulary += [t for c in TOPICS for t in (c.keyword, c.about, c.about_place, c.amount, *c.lines)]
    reserved = reserved_vocabulary()
    assert len(reserved) > 100
    assert _words(vocabulary) & reserved == set()
    assert _words([str(ann["desc"]) for ann in annotations] + lines) & reserved == set()


def test_heldout_phrasings_keep_query_and_moment_in_reserved_words_only(queries: tuple) -> None:
    annotations, rephrased, index, _ = queries
    assert len(rephrased) == len(annotations) > 120 * 8
    assert find_ambiguous(rephrased, index) == []
    proper = {word.lower() for word in NAMES + PLACES}
    for template, heldout in zip(annotations, rephrased, strict=True):
        assert {k: v for k, v in heldout.items() if k != "phrasing"} == template | {"desc": heldout["desc"]}
        assert heldout["phrasing"] == "heldout" and heldout["desc"] != template["desc"]
        assert content_words(str(heldout["desc"])) - proper <= reserved_vocabulary(), heldout["desc"]
    assert heldout_phrasings(annotations, CONFIG.seed) == rephrased


def test_every_training_attribute_set_has_heldout_frames_and_no_other() -> None:
    assert set(FRAMES_BY_KEYS) == {template_keys(t) for t in TEMPLATES}
    assert all(len(frames) >= 2 for frames in FRAMES_BY_KEYS.values())


def test_parse_mentions_reads_reserved_words() -> None:
    assert parse_mentions("a crimson disc gliding leftwards against a lattice") == {
        "colour": "red",
        "shape": "circle",
        "action": "move_left",
        "background": "grid",
    }
    assert parse_mentions("the part where the tiny box swells") == {
        "size": "small",
        "shape": "square",
        "action": "grow",
    }
    assert parse_mentions("Maria chats about the railway to Lisbon, citing the number 12") == {
        "name": "Maria",
        "topic": "trains",
        "place": "Lisbon",
        "number": "12",
    }
    assert parse_mentions("a lozenge strobes while a rhombus whirls")["action"] == "<conflict>"


def test_an_ambiguous_heldout_phrasing_stops_the_generator() -> None:
    config = SynthConfig(videos=4, seed=7, min_duration=12.0, max_duration=16.0)
    plans = plan_corpus(config)
    annotations = build_annotations(plans, MomentIndex.build(plans), config)
    assert len(verified_heldout_phrasings(annotations, MomentIndex.build(plans), config)) == len(annotations)
    twin = MomentIndex.build([*plans, dataclasses.replace(plans[0], vid_name="planted_twin")])
    with pytest.raises(ValueError, match="held-out phrasings match no, several or another moment"):
        verified_heldout_phrasings(annotations, twin, config)
