"""Stage 1 over the segment index (videos ranked by their best segment), exactly and through FAISS, and the
choice of the segment index's search parameters from the snapshot's own vectors when it is published.

The recall that matters is of videos: stage 1 hands the top `k` videos (by best segment) to stage 2. An IVF
index's recall at a given nprobe depends on the model's vectors (the same nprobe gave 0.99 with one model and
0.89 with the next at TVR scale), so nprobe (or efSearch) is measured, not fixed: the smallest setting whose
recall@`k` of videos against exact search reaches RECALL_TARGET on pseudo-queries drawn from the snapshot.

Pseudo-queries: a text query is far from every segment (TVR val queries with kairos-small: cosine 0.30 to
their best segment, where segments are ~0.95 to their neighbours), so its best segments are spread over many
lists and an IVF probe misses more; a segment as its own query finds its list at once and overstates recall
(measured: nprobe 128 gave 0.98 to segment mixtures, 0.88 to real queries). Each pseudo-query is the mean of
MIX random segments plus isotropic noise of norm NOISE, normalised: that puts it as far from its best
segment as a real query (cosine 0.30 at TVR scale), and its recall then follows real queries' from below
(nprobe 128 / 256 / 512 / 1024: 0.835 / 0.919 / 0.970 / 0.993 against real 0.881 / 0.942 / 0.978 / 0.994;
benchmarks/stage1.py checks the choice against real queries).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import faiss
import numpy as np

from indexer.snapshot import faiss_index

RECALL_TARGET = 0.98
TOP_VIDEOS = 100  # the API's default top_k_videos
TUNING_QUERIES = 200
MIX = 4
NOISE = 5.0  # norm of the noise added to a unit mixture
SEED = 2026
EXACT_CHUNK = 262_144  # segment rows per block of the exact pass (~256 MB as float32 at 256 dims)


FETCH_PER_VIDEO = (16, 32, 64, 128)  # segments fetched per video wanted, tried in turn
DEFAULT_FETCH = FETCH_PER_VIDEO[0]  # for snapshots written before tuning


def segments_for(k: int, fetch: int = DEFAULT_FETCH) -> int:
    """Segments stage 1 fetches to rank `k` videos by their best one."""
    return max(fetch * k, 256)


def best_videos(scores: np.ndarray, owners: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k videos by best segment from ranked segment hits: scores [B, K] (best first) and their videos'
    idx [B, K] (-1: missing) -> scores [B, k] float32 (-inf when missing), video idx [B, k] int64 (-1)."""
    out_scores = np.full((len(owners), k), -np.inf, dtype=np.float32)
    out_videos = np.full((len(owners), k), -1, dtype=np.int64)
    for b in range(len(owners)):
        found = owners[b] >= 0
        videos, first = np.unique(owners[b, found], return_index=True)
        order = np.argsort(first, kind="stable")[:k]  # a video's first hit is its best segment
        out_videos[b, : len(order)] = videos[order]
        out_scores[b, : len(order)] = scores[b, found][first[order]]
    return out_scores, out_videos


def exact_video_scores(segments: np.ndarray, owners: np.ndarray, n_videos: int, q: np.ndarray) -> np.ndarray:
    """[B, n_videos]: each video's best segment similarity to the queries [B, D], exactly (-inf: none).

    `segments` [N, D] (a float16 memory map is read block by block) and their video idx `owners` [N],
    non-decreasing (a video's segments are contiguous, as a snapshot stores them).
    """
    out = np.full((len(q), n_videos), -np.inf, dtype=np.float32)
    starts = np.searchsorted(owners, np.arange(n_videos + 1))
    video = 0
    while video < n_videos:
        last = max(int(np.searchsorted(starts, starts[video] + EXACT_CHUNK, side="right")) - 1, video + 1)
        block = np.asarray(segments[starts[video] : starts[last]], dtype=np.float32)
        present = np.flatnonzero(starts[video:last] < starts[video + 1 : last + 1]) + video
        if len(present):
            sims = block @ np.asarray(q, dtype=np.float32).T  # [rows, B]
            out[:, present] = np.maximum.reduceat(sims, starts[present] - starts[video], axis=0).T
        video = last
    return out


def recall_at(found: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per query, the share of the exact top videos [B, k] that `found` [B, k] holds."""
    pairs = zip(found, exact, strict=True)
    return np.array([len(set(f.tolist()) & set(e.tolist())) / e.shape[0] for f, e in pairs])


def pseudo_queries(segments: np.ndarray, n: int, seed: int = SEED) -> np.ndarray:
    """[n, D] float32 unit vectors: the mean of MIX random segments (of different videos, mostly),
    normalised, plus isotropic noise of norm ~NOISE, normalised again."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(segments), size=(n * MIX), replace=len(segments) < n * MIX))
    picked = np.asarray(segments[rows], dtype=np.float32)[rng.permutation(n * MIX)]
    mixed = unit(picked.reshape(n, MIX, -1).mean(axis=1))
    noise = rng.standard_normal(mixed.shape).astype(np.float32) * (NOISE / np.sqrt(mixed.shape[1]))
    return unit(mixed + noise)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Tuning:
    """The setting chosen (FAISS search parameters, and segments fetched per video wanted) and what was
    measured: recall@k of videos of each (fetch, parameters) tried."""

    search_params: str
    fetch: int
    recall: float
    target: float
    k: int
    queries: int
    sweep: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def settings_to_try(index: faiss.Index) -> list[str]:
    """Increasing search settings of an index (IVF: nprobe; HNSW: efSearch); [""] for an exact one."""
    if (ivf := faiss.try_extract_index_ivf(index)) is not None:
        return [f"nprobe={2**i}" for i in range(int(np.log2(ivf.nlist)) + 1)]
    if isinstance(faiss.downcast_index(index), faiss.IndexHNSW):
        return [f"efSearch={2**i}" for i in range(4, 13)]
    return [""]


def tune(
    index: faiss.Index,
    segments: np.ndarray,
    owners: np.ndarray,
    n_videos: int,
    k: int = TOP_VIDEOS,
    target: float = RECALL_TARGET,
    queries: int = TUNING_QUERIES,
) -> Tuning | None:
    """The cheapest setting of `index` (over `segments`, owned by `owners`) reaching `target` recall@k of
    videos on pseudo-queries, else the one of highest recall; None for a snapshot without videos.

    Two knobs: the index's own (nprobe, efSearch), and how many segments are fetched per video wanted
    (FETCH_PER_VIDEO: the top k videos by best segment are among the top fetch*k segments only when no
    video holds too many of them). Cheapest: the least probing, then the smallest fetch. A fetch whose
    recall stops growing with more probing is left for the next.
    """
    k = min(k, n_videos)
    if k == 0 or len(segments) == 0:
        return None
    settings = settings_to_try(index)
    q = pseudo_queries(segments, queries)
    exact = np.argsort(-exact_video_scores(segments, owners, n_videos, q), axis=1, kind="stable")[:, :k]
    sweep: dict[str, float] = {}
    tried: dict[tuple[int, int], float] = {}  # (setting number, fetch) -> recall
    best: tuple[int, int] | None = None  # the first to reach the target
    for fetch in FETCH_PER_VIDEO:
        previous = -1.0
        for number, params in enumerate(settings):
            if best is not None and number >= best[0]:
                break
            if params:
                faiss_index.set_search_params(index, params)
            scores, labels = index.search(q, min(segments_for(k, fetch), index.ntotal))
            _, found = best_videos(scores, np.where(labels >= 0, owners[np.maximum(labels, 0)], -1), k)
            recall = tried[number, fetch] = round(float(recall_at(found, exact).mean()), 4)
            sweep[f"{params or 'exact'} fetch={fetch}"] = recall
            if recall >= target:
                best = (number, fetch)
                break
            if recall <= previous:  # twice the probing gained nothing: this fetch is what limits recall
                break
            previous = recall
    number, fetch = best or max(tried, key=lambda tried_setting: (tried[tried_setting], -tried_setting[0]))
    return Tuning(settings[number], fetch, tried[number, fetch], target, k, queries, sweep)
