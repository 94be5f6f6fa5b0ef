"""Line retrieval over every stream's lines of a snapshot: BM25 over their words, FAISS over their vectors.

Line `i` is row `i + 1` (rowid) of the lines table and row `i` of `lines.f16`; the BM25 index (bm25s:
lowercase words of 2+ letters, bm25s' English stopwords, no stemming) is built at publish into flat files
`lines.bm25.*` beside them (a snapshot directory holds only files).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import bm25s
import numpy as np

from indexer.snapshot import faiss_index
from indexer.snapshot.errors import SnapshotError
from indexer.snapshot.manifest import IndexSpec

STOPWORDS = "en"
BM25_FILES = {  # bm25s' file-name arguments -> the snapshot's file names
    "data_name": "lines.bm25.data.npy",
    "indices_name": "lines.bm25.indices.npy",
    "indptr_name": "lines.bm25.indptr.npy",
    "vocab_name": "lines.bm25.vocab.json",
    "params_name": "lines.bm25.params.json",
    "nnoc_name": "lines.bm25.nnoc.npy",
}

logging.getLogger("bm25s").setLevel(logging.WARNING)


def tokens(texts: list[str]) -> list[list[str]]:
    """Lowercase words (2+ characters), English stopwords dropped."""
    out = bm25s.tokenize(texts, stopwords=STOPWORDS, return_ids=False, show_progress=False)
    return [list(words) for words in out]


def build_bm25(texts: list[str], folder: Path) -> list[Path]:
    """A BM25 index over `texts` saved in `folder` (~2.8 s per 100 K lines on one core); the files written
    (none when no line has a word, only punctuation or stopwords: bm25s cannot index no vocabulary)."""
    corpus = tokens(texts)
    if not any(corpus):
        return []
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    retriever.save(str(folder), show_progress=False, **BM25_FILES)
    return [folder / name for name in BM25_FILES.values() if (folder / name).exists()]


def line_texts(conn: sqlite3.Connection) -> list[str]:
    """Every line's text in line order (rowid)."""
    return [text for (text,) in conn.execute("SELECT text FROM lines ORDER BY rowid")]


class LineIndex:
    """The lines of a snapshot: which video each belongs to, its stream, and the two ways to find one."""

    def __init__(self, path: Path, conn: sqlite3.Connection, spec: IndexSpec, vectors: np.ndarray) -> None:
        rows = conn.execute("SELECT idx, stream, start_s, end_s FROM lines ORDER BY rowid").fetchall()
        self.videos = np.array([r[0] for r in rows], dtype=np.int64)  # [L] video idx of each line
        self.spans = np.array([r[2:] for r in rows], dtype=np.float64).reshape(-1, 2)  # [L, 2] seconds
        names = sorted({r[1] for r in rows})
        self.stream_names = {name: code for code, name in enumerate(names)}
        self.streams = np.array([self.stream_names[r[1]] for r in rows], dtype=np.int16)  # [L]
        self.vectors = vectors  # [L, Dt] float16, memory-mapped
        if spec.ntotal != len(rows):
            raise SnapshotError(f"{spec.file} has {spec.ntotal} vectors for {len(rows)} lines")
        self.index = faiss_index.load_index(path / spec.file)
        faiss_index.set_search_params(self.index, spec.search_params)
        self.dim = int(self.index.d)
        has_words = (path / BM25_FILES["params_name"]).exists()
        self.bm25 = (
            bm25s.BM25.load(str(path), mmap=True, show_progress=False, **BM25_FILES) if has_words else None
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.videos)

    def allowed(self, streams: list[str] | None) -> np.ndarray | None:
        """A mask [L] of the lines in `streams` (None: every line may match)."""
        if streams is None:
            return None
        codes = [self.stream_names[s] for s in streams if s in self.stream_names]
        return np.isin(self.streams, codes)

    def similarity(self, lines: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Cosine [n] of the lines [n] to a sentence vector [Dt]."""
        return np.asarray(self.vectors[lines], dtype=np.float32) @ np.asarray(q, dtype=np.float32)

    def search_vectors(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """The best lines [<=k] for a sentence vector [Dt], by cosine, best first.

        With a stream filter, the best max(8k, 1024) lines are read and filtered (fewer than k may remain).
        """
        fetch = min(len(self), k if allowed is None else max(8 * k, 1024))
        if fetch == 0:
            return np.zeros(0, dtype=np.int64)
        query = np.ascontiguousarray(q[None, :], dtype=np.float32)
        with self._lock:
            _, labels = self.index.search(query, fetch)
        found = labels[0][labels[0] >= 0]
        if allowed is not None:
            found = found[allowed[found]]
        return found[:k]

    def search_words(self, query: str, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """The best lines [<=k] for the query's words by BM25, best first; none sharing no word."""
        words = tokens([query])[0]
        if not words or len(self) == 0 or self.bm25 is None:
            return np.zeros(0, dtype=np.int64)
        with self._lock:
            scores = np.asarray(self.bm25.get_scores(words), dtype=np.float32)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        top = np.argpartition(-scores, k)[:k] if len(scores) > k else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return top[scores[top] > 0]
