"""WordNet synonyms for training-time rewording, read from the database files of Debian's `wordnet-base`.

    python -m indexer.wordnet --annotations A.jsonl [B.jsonl ...] [--wordnet /usr/share/wordnet]
        [--out indexer/synonyms.json]

For every lower-case content word of the given queries, the other lemmas of the synsets of its first
`SENSES` senses (per part of speech), and for adjectives also of the synsets similar to them ("crimson" is a
satellite of "red"), re-inflected like the word ("grows" -> "expands"). Candidates that contain a word of
the held-out phrasings (`indexer.synth.phrasing.reserved_vocabulary`) are dropped, so rewording never
teaches an evaluation word; of the rest, those the frozen text encoder puts close to the word are kept.
The table is committed as data (`indexer/synonyms.json`): training needs no WordNet installation, and the
test of disjointness reads what training reads.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from indexer.annotations import read_annotations
from indexer.synth.phrasing import content_words, reserved_vocabulary

WORDNET = Path("/usr/share/wordnet")
TABLE = Path(__file__).with_name("synonyms.json")
SENSES = 2  # the most frequent senses of a word whose synonyms count
# WordNet does not say which sense a query means ("star" -> "champion"): a candidate stays when the frozen
# text encoder puts it this close to the word; at most KEEP per word
MIN_SIMILARITY = 0.5
KEEP = 8
POS = {"n": "noun", "v": "verb", "a": "adj"}
# WordNet's detachment rules (morphy): inflected suffix -> lemma suffix, per part of speech
_RULES = {
    "n": (("ses", "s"), ("xes", "x"), ("ches", "ch"), ("shes", "sh"), ("ies", "y"), ("s", "")),
    "v": (
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("s", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
    ),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
}


Similarity = Callable[[str, list[str]], list[float]]


class WordNet:
    """The index (lemma -> synset offsets, most frequent sense first) and synsets of one WordNet folder."""

    def __init__(self, root: Path = WORDNET) -> None:
        if not (root / "index.noun").is_file():
            raise SystemExit(
                f"no WordNet database in {root}: apt-get install wordnet-base, or pass --wordnet"
            )
        self.index: dict[str, dict[str, list[int]]] = {}
        self.synsets: dict[str, dict[int, tuple[list[str], list[int]]]] = {}
        self.exceptions: dict[str, dict[str, str]] = {}
        for pos, name in POS.items():
            self.index[pos] = dict(_index_lines(root / f"index.{name}"))
            self.synsets[pos] = dict(_data_lines(root / f"data.{name}"))
            self.exceptions[pos] = dict(_exception_lines(root / f"{name}.exc"))

    def lemma(self, word: str, pos: str) -> tuple[str, str] | None:
        """The lemma WordNet files `word` under as part of speech `pos`, and the suffix `word` adds to it."""
        if word in self.index[pos]:
            return word, ""
        if word in self.exceptions[pos]:
            return self.exceptions[pos][word], ""
        for suffix, ending in _RULES[pos]:
            if (
                word.endswith(suffix)
                and (base := word[: len(word) - len(suffix)] + ending) in self.index[pos]
            ):
                return base, suffix
        return None

    def synonyms(self, lemma: str, pos: str) -> list[str]:
        """Other lemmas of the first `SENSES` synsets of `lemma` (and of their similar adjectives)."""
        out: list[str] = []
        for offset in self.index[pos].get(lemma, [])[:SENSES]:
            _, similar = self.synsets[pos][offset]
            for other in [offset, *similar] if pos == "a" else [offset]:
                out += [w for w in self.synsets[pos][other][0] if w != lemma and w not in out]
        return out


def _index_lines(path: Path) -> Iterable[tuple[str, list[int]]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):
            continue  # the licence
        fields = line.split()
        pointers = int(fields[3])
        senses = int(fields[4 + pointers])
        yield fields[0], [int(f) for f in fields[6 + pointers : 6 + pointers + senses]]


def _data_lines(path: Path) -> Iterable[tuple[int, tuple[list[str], list[int]]]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):
            continue
        fields = line.split(" | ")[0].split()
        count = int(fields[3], 16)
        words = [re.sub(r"\(\w+\)$", "", w).lower() for w in fields[4 : 4 + 2 * count : 2]]
        at = 4 + 2 * count
        pointers = [fields[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(int(fields[at]))]
        similar = [int(p[1]) for p in pointers if p[0] == "&"]
        yield int(fields[0]), (words, similar)


def _exception_lines(path: Path) -> Iterable[tuple[str, str]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 2:
            yield fields[0], fields[1]


def inflect(lemma: str, suffix: str) -> str:
    """One-word `lemma` with the inflection `suffix` ("s", "es", "ing", "ed", "er", "est")."""
    if suffix in ("s", "es"):
        return lemma + ("es" if lemma.endswith(("s", "x", "ch", "sh")) else "s")
    if suffix:
        return (lemma[:-1] if lemma.endswith("e") and suffix[0] in "ie" else lemma) + suffix
    return lemma


def synonym_table(
    texts: Iterable[str], wordnet: WordNet, reserved: set[str], similarity: Similarity
) -> dict[str, list[str]]:
    """Word -> its WordNet synonyms in the same form, none containing a `reserved` word, at most `KEEP` of
    those at `similarity` >= `MIN_SIMILARITY` to the word (most similar first); proper names (a capital in
    `texts`) and words left without synonyms are left out."""
    words: set[str] = set()
    for text in texts:
        words |= {w for w in re.findall(r"[A-Za-z]+", text) if w.islower()}
    table: dict[str, list[str]] = {}
    for word in sorted(content_words(" ".join(words))):
        found: list[str] = []
        for pos in POS:
            if (filed := wordnet.lemma(word, pos)) is None:
                continue
            for lemma in wordnet.synonyms(filed[0], pos):
                if filed[1] and "_" in lemma:
                    continue  # which word of a phrase takes the inflection is not in the database
                phrase = inflect(lemma, filed[1])
                phrase = phrase.replace("_", " ")
                if phrase not in found and phrase != word and not content_words(phrase) & reserved:
                    found.append(phrase)
        scored = sorted(zip(similarity(word, found), found, strict=True), reverse=True) if found else []
        if kept := [phrase for score, phrase in scored if score >= MIN_SIMILARITY][:KEEP]:
            table[word] = kept
    return table


def encoder_similarity(model: str = "minilm") -> Similarity:
    """Cosine of the frozen text encoder's sentence vectors of a word and of each candidate."""
    from models.encoders import TextEncoder

    encoder = TextEncoder(model)

    def similarity(word: str, candidates: list[str]) -> list[float]:
        vectors = encoder.encode([word, *candidates]).pooled
        return [float(x) for x in vectors[1:] @ vectors[0]]

    return similarity


def load_table(path: Path = TABLE) -> dict[str, list[str]]:
    """The committed synonym table."""
    return {str(k): [str(v) for v in vs] for k, vs in json.loads(path.read_text(encoding="utf-8")).items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annotations", type=Path, nargs="+", required=True)
    parser.add_argument("--wordnet", type=Path, default=WORDNET)
    parser.add_argument("--out", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    texts = [row.text for path in args.annotations for row in read_annotations(path)]
    table = synonym_table(texts, WordNet(args.wordnet), reserved_vocabulary(), encoder_similarity())
    args.out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sys.stdout.write(f"{len(table)} words with synonyms -> {args.out}\n")


if __name__ == "__main__":
    main()
