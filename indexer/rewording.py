"""Training-time rewording of queries: WordNet synonyms (`indexer.wordnet`) swapped in and words dropped.

A user rarely types the annotator's words. Each reworded copy replaces every word the synonym table knows
with one of its synonyms with probability `synonym_share`, and drops each other word with probability
`dropout` (at least three words stay). Seeded by the text, so a dataset's copies are reproducible. The
table holds no word of the held-out phrasings (tested), so no evaluation word is ever trained on.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence


def reworded(
    text: str,
    count: int,
    synonyms: Mapping[str, Sequence[str]],
    synonym_share: float = 0.5,
    dropout: float = 0.1,
) -> list[str]:
    """Up to `count` distinct reworded copies of `text`, none equal to it."""
    words = text.split()
    rng = random.Random(f"reword:{text}")
    out: list[str] = []
    for _ in range(4 * count):
        if len(out) == count:
            break
        copy: list[str] = []
        for i, word in enumerate(words):
            options = synonyms.get(word)
            if options and rng.random() < synonym_share:
                copy.append(rng.choice(list(options)))
            elif not options and len(copy) + len(words) - i > 3 and rng.random() < dropout:
                continue
            else:
                copy.append(word)
        phrase = " ".join(copy)
        if phrase != text and phrase not in out:
            out.append(phrase)
    return out
