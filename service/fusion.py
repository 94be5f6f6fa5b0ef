"""Reciprocal-rank fusion (RRF): of the lines found by words and by vectors, then of the candidate videos
found by the segment index and by the lines (a video ranked by its best line)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rrf(rankings: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Items [N] int64 and fused scores [N] float64, best first: the sum of 1 / (k + rank) over the rankings
    (rank 1 = best) that hold an item; ties keep the order in which items were first seen."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking.tolist(), start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    items = sorted(scores, key=lambda item: -scores[item])
    return np.asarray(items, dtype=np.int64), np.asarray([scores[i] for i in items], dtype=np.float64)


def best_per_group(items: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranked items [N] and each item's group [N]: the groups in the order of their best item, and the
    position [G] of that item in `items`."""
    found, first = np.unique(groups, return_index=True)
    order = np.argsort(first, kind="stable")
    return found[order], first[order]
