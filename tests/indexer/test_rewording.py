"""Training-time rewording: the WordNet table never holds a held-out word; copies are reproducible."""

from __future__ import annotations

from pathlib import Path

from indexer.rewording import reworded
from indexer.synth.phrasing import content_words, reserved_vocabulary
from indexer.wordnet import WordNet, inflect, load_table, synonym_table


def test_the_synonym_table_and_the_reserved_words_are_disjoint() -> None:
    table = load_table()
    assert len(table) > 50
    taught = set(table) | {w for phrases in table.values() for p in phrases for w in content_words(p)}
    assert not taught & reserved_vocabulary()


def test_rewording_is_reproducible_swaps_known_words_and_keeps_three() -> None:
    table = {"red": ["reddish"], "circle": ["round shape"]}
    copies = reworded("a red circle moves to the left", 3, table, synonym_share=1.0, dropout=0.5)
    assert copies == reworded("a red circle moves to the left", 3, table, synonym_share=1.0, dropout=0.5)
    assert copies and all("reddish round shape" in c and len(c.split()) >= 3 for c in copies)
    assert reworded("spins", 2, table) == []  # nothing to swap, too short to drop a word


def _wordnet(root: Path) -> WordNet:
    """A two-synset WordNet in the database format: 'red' ~ 'crimson', 'ruby'; verb 'spin' ~ 'whirl'."""
    root.mkdir()
    (root / "index.adj").write_text("  1 licence\nred a 1 0 1 0 00000001  \n")
    (root / "data.adj").write_text(
        "  1 licence\n00000001 00 a 03 red 0 crimson 0 ruby(a) 0 000 | the colour\n"
    )
    (root / "index.verb").write_text("spin v 1 0 1 0 00000002  \n")
    (root / "data.verb").write_text("00000002 38 v 02 spin 0 whirl 0 000 | turn round\n")
    for name in ("noun",):
        (root / f"index.{name}").write_text("")
        (root / f"data.{name}").write_text("")
    for name in ("noun", "verb", "adj"):
        (root / f"{name}.exc").write_text("")
    return WordNet(root)


def test_the_database_reader_finds_lemmas_synonyms_and_inflects(tmp_path: Path) -> None:
    wordnet = _wordnet(tmp_path / "wn")
    assert wordnet.lemma("spins", "v") == ("spin", "s") and wordnet.lemma("red", "a") == ("red", "")
    assert wordnet.synonyms("red", "a") == ["crimson", "ruby"]
    assert inflect("whirl", "s") == "whirls" and inflect("glide", "ing") == "gliding"
    table = synonym_table(
        ["the red Star spins"], wordnet, {"crimson"}, lambda word, found: [1.0] * len(found)
    )
    assert table == {"red": ["ruby"], "spins": ["whirls"]}
