"""Building, saving and opening the FAISS indexes of a snapshot (inner product; vectors L2-normalised)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import faiss
import numpy as np

from indexer.snapshot.errors import SnapshotError

AUTO = "auto"
# Up to this many vectors `auto` builds an exact index (measured, 384 dims, one thread: ~1 ms a query at
# 20 K, 7 ms at 100 K, where IVF answers in 0.1 ms at recall@10 0.999): exact answers, no training.
AUTO_EXACT_MAX = 32_768
# Past it, IVF with fp16 codes: half the memory of Flat, mmap-able, bounded training, fast to build
# (HNSW builds far slower). Lists probed: 2*sqrt(lists), at least MIN_NPROBE, so the vectors scanned grow
# as n^(3/4): at TVR scale (1.9 M segments, 4,096 lists) nprobe 16 / 64 / 128 gave stage-1 recall@100 of
# videos 0.86 / 0.976 / 0.993 against exact search (benchmarks/scale.py).
MIN_NPROBE = 16
TRAIN_PER_LIST = 40
MAX_TRAIN = 200_000
KMEANS_ITERATIONS = 10
ADD_CHUNK = 65_536


def ivf_lists(n: int) -> int:
    """Inverted lists for `n` vectors: the power of two nearest 4*sqrt(n), with >= 39 training points each."""
    target = max(1.0, min(4.0 * math.sqrt(n), n / 39.0))
    return int(2 ** max(0, round(math.log2(target))))


def nprobe_for(lists: int) -> int:
    """Lists an IVF index of `lists` lists probes per query: 2*sqrt(lists), a power of two, >= MIN_NPROBE."""
    return min(lists, max(MIN_NPROBE, int(2 ** round(math.log2(2 * math.sqrt(lists))))))


def resolve_factory(requested: str, n: int, exact_max: int = AUTO_EXACT_MAX) -> tuple[str, str]:
    """The factory string to build for `requested` and `n` vectors, and its default search parameters."""
    if requested == AUTO:
        if n <= exact_max:
            return "Flat", ""
        lists = ivf_lists(n)
        return f"IVF{lists},SQfp16", f"nprobe={nprobe_for(lists)}"
    if (ivf := re.search(r"(?:^|,)IVF(\d+)", requested)) is not None:
        return requested, f"nprobe={nprobe_for(int(ivf.group(1)))}"
    if requested.startswith("HNSW"):
        return requested, "efSearch=64"
    return requested, ""


def gpu_count() -> int:
    """GPUs FAISS can use here (0 with faiss-cpu)."""
    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


def _to_gpu(index: faiss.Index) -> faiss.Index | None:
    """The index moved to all GPUs, None when there is no GPU or FAISS has no GPU version of this type."""
    if gpu_count() == 0:
        return None
    try:
        return faiss.index_cpu_to_all_gpus(index)
    except RuntimeError:
        return None


def _float32(rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows, dtype=np.float32)


def _train_sample(vectors: np.ndarray, lists: int, seed: int) -> np.ndarray:
    n = vectors.shape[0]
    size = min(n, max(lists * TRAIN_PER_LIST, 1), MAX_TRAIN)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    return _float32(vectors[rows])


def build_index(vectors: np.ndarray, factory: str, seed: int = 1234) -> faiss.Index:
    """Train (on a bounded sample) and fill a CPU index from `vectors` [N, D] (any float dtype, a memmap).

    Ids are row numbers. Built on GPU where FAISS has one, then copied back to CPU.
    """
    n, dim = vectors.shape
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise SnapshotError(f"invalid FAISS factory string {factory!r}: {exc}") from exc
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.cp.niter = KMEANS_ITERATIONS
        ivf.cp.seed = seed
    gpu = _to_gpu(index)
    work = gpu if gpu is not None else index
    try:
        if not work.is_trained:
            lists = ivf.nlist if ivf is not None else 1
            work.train(_train_sample(vectors, lists, seed))
        for start in range(0, n, ADD_CHUNK):
            work.add(_float32(vectors[start : start + ADD_CHUNK]))
    except RuntimeError as exc:
        raise SnapshotError(f"building FAISS index {factory!r} over {n} vectors failed: {exc}") from exc
    return faiss.index_gpu_to_cpu(gpu) if gpu is not None else index


def save_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_index(path: Path) -> faiss.Index:
    """Open an index memory-mapped and read-only where its type allows, else read it into memory."""
    ro = faiss.IO_FLAG_READ_ONLY
    for flags in (faiss.IO_FLAG_MMAP_IFC | ro, faiss.IO_FLAG_MMAP | ro):
        try:
            return faiss.read_index(str(path), flags)
        except RuntimeError:
            continue
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise SnapshotError(f"cannot read FAISS index {path}: {exc}") from exc


def set_search_params(index: faiss.Index, params: str) -> None:
    """Apply search-time parameters such as "nprobe=16" or "efSearch=64" (comma-separated; later wins)."""
    if not params:
        return
    try:
        faiss.ParameterSpace().set_index_parameters(index, params)  # type: ignore[arg-type]  # SWIG overload
    except RuntimeError as exc:
        raise SnapshotError(f"invalid search parameters {params!r} for this index: {exc}") from exc
