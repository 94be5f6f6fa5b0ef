"""Stage 1 at TVR scale, the alternatives side by side in one run: recall@100 of videos against exact search
with real TVR queries, and CPU-ms per query (one thread, one query at a time, as the server searches).

    python benchmarks/stage1.py [--work benchmarks/.work/scale] [--queries 500]

On the Kairos snapshot of `benchmarks/scale.py` (build it first: `python benchmarks/scale.py --build-only`):
1. IVF over segments (the snapshot's own index, fp16 codes) at each nprobe x segments fetched per video:
   the old fixed setting (nprobe 128, fetch 16), the setting the build chose on pseudo-queries
   (`indexer.snapshot.tuning`, recorded in the manifest) and the whole sweep, so the pseudo-queries' choice
   can be checked against what real queries need;
2. a video-level first pass: exact search over the video vectors, then every segment of the best N videos
   scored exactly (numpy over the memory-mapped segments), videos ranked by their best segment;
3. IVF with 4-bit PQ fast-scan codes (the same coarse centroids) fetching a short list that is re-ranked
   exactly with the snapshot's fp16 segment vectors.
The queries are the first `--queries` of TVR val, encoded by the bundled model as the server encodes them.
Writes benchmarks/results/stage1.json and stage1.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine, write_report
from benchmarks.scale import MODEL, encode_queries, tvr_queries
from indexer.snapshot import Snapshot, open_snapshot
from indexer.snapshot.tuning import TOP_VIDEOS, best_videos, exact_video_scores, recall_at, segments_for

Search = Callable[[np.ndarray], np.ndarray]  # one query [D] -> video idx [k]


def timed(search: Search, q: np.ndarray, exact: np.ndarray) -> dict[str, Any]:
    """Recall@k (mean, min) and per-query ms (p50, mean) of `search` over the queries, one at a time."""
    found, times = [], []
    for vector in q:
        start = time.thread_time()  # CPU time of this thread: what a query costs the machine
        found.append(search(vector))
        times.append((time.thread_time() - start) * 1000)
    recall = recall_at(np.stack(found), exact)
    return {
        "recall_mean": round(float(recall.mean()), 4),
        "recall_min": round(float(recall.min()), 4),
        "cpu_ms_p50": round(float(np.median(times)), 3),
        "cpu_ms_mean": round(float(np.mean(times)), 3),
    }


class Stage1:
    """The snapshot's arrays and indexes, as the alternatives read them."""

    def __init__(self, snapshot: Snapshot) -> None:
        path, arrays = snapshot.path, snapshot.manifest.arrays
        self.snapshot = snapshot
        self.segments = np.memmap(path / "segments.f16", np.float16, "r", shape=arrays["segments.f16"].shape)
        rows = np.memmap(path / "segments.i32", np.int32, "r", shape=arrays["segments.i32"].shape)
        self.owners = np.ascontiguousarray(rows[:, 0])
        self.starts = np.searchsorted(self.owners, np.arange(len(snapshot) + 1))
        self.index = faiss.read_index(str(path / "segments.faiss"))
        self.ivf = faiss.extract_index_ivf(self.index)  # a view: self.index keeps it alive

    def ivf_search(self, params: str, fetch: int) -> Search:
        def search(q: np.ndarray) -> np.ndarray:
            wanted = segments_for(TOP_VIDEOS, fetch)
            return self.snapshot.top_videos(q[None, :], TOP_VIDEOS, wanted, params)[1][0]

        return search

    def video_first(self, n: int) -> Search:
        """Exact over video vectors -> the best n videos' segments scored exactly -> top videos."""

        def search(q: np.ndarray) -> np.ndarray:
            _, videos = self.snapshot.search_videos(q[None, :], n)
            videos = np.sort(videos[0][videos[0] >= 0])
            blocks = [self.segments[self.starts[v] : self.starts[v + 1]] for v in videos]
            sims = np.concatenate(blocks).astype(np.float32) @ q
            lengths = self.starts[videos + 1] - self.starts[videos]
            best = np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(lengths)[:-1]]))
            return videos[np.argsort(-best, kind="stable")[:TOP_VIDEOS]]

        return search

    def fast_scan(self, m: int) -> tuple[faiss.Index, float]:
        """IVF-PQ fast-scan (m 4-bit codes) of the segments, on the snapshot index's coarse centroids."""
        start = time.perf_counter()
        d, nlist = self.ivf.d, self.ivf.nlist
        quantizer = faiss.IndexFlatIP(d)
        quantizer.add(self.ivf.quantizer.reconstruct_n(0, nlist))
        index = faiss.IndexIVFPQFastScan(quantizer, d, nlist, m, 4, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(len(self.segments), 65_536, replace=False)
        index.train(np.asarray(self.segments[np.sort(sample)], dtype=np.float32))
        for begin in range(0, len(self.segments), 262_144):
            index.add(np.asarray(self.segments[begin : begin + 262_144], dtype=np.float32))
        self.kept = quantizer  # the index does not own its quantizer: keep it alive with this object
        return index, time.perf_counter() - start

    def reranked(self, index: faiss.Index, nprobe: int, short_list: int) -> Search:
        """`short_list` segments by PQ codes, re-scored with the fp16 vectors; videos by best segment."""
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe

        def search(q: np.ndarray) -> np.ndarray:
            _, labels = index.search(q[None, :], short_list, params=params)
            ids = np.sort(labels[0][labels[0] >= 0])
            scores = np.asarray(self.segments[ids], dtype=np.float32) @ q
            order = np.argsort(-scores)
            return best_videos(scores[order][None, :], self.owners[ids][order][None, :], TOP_VIDEOS)[1][0]

        return search


def run(args: argparse.Namespace) -> dict[str, Any]:
    faiss.omp_set_num_threads(1)
    queries = tvr_queries()[: args.queries]
    q = encode_queries(queries)
    with open_snapshot(args.work / "kairos") as snapshot:
        stage = Stage1(snapshot)
        spec = snapshot.manifest.segment_index
        exact = np.argsort(-exact_video_scores(stage.segments, stage.owners, len(snapshot), q), axis=1)
        exact = exact[:, :TOP_VIDEOS]
        rows: list[dict[str, Any]] = []

        def measure(design: str, setting: str, search: Search, **extra: Any) -> None:
            rows.append({"design": design, "setting": setting, **timed(search, q, exact), **extra})
            print(rows[-1], flush=True)

        for fetch in (16, 32):
            for nprobe in (128, 256, 512, 1024):
                search = stage.ivf_search(f"nprobe={nprobe}", fetch)
                measure("IVF fp16 codes", f"nprobe={nprobe} fetch={fetch}", search)
        for n in (100, 300, 1000):
            measure("video first pass", f"{n} videos", stage.video_first(n))
        index, build_s = stage.fast_scan(args.pq_m)
        for nprobe in (128, 256, 512, 1024):
            for short_list in (4096, 16384):
                measure(
                    f"IVF PQ{args.pq_m}x4fs + exact re-rank",
                    f"nprobe={nprobe} short list {short_list}",
                    stage.reranked(index, nprobe, short_list),
                    build_s=round(build_s, 1),
                    codes_mb=round(len(stage.segments) * args.pq_m / 2 / 2**20, 1),
                )
        return {
            "benchmark": "stage1",
            "machine": machine(),
            "model": MODEL,
            "snapshot": {"videos": len(snapshot), "segments": int(spec.ntotal), "factory": spec.factory},
            "queries": len(queries),
            "k": TOP_VIDEOS,
            "built_with": {"search_params": spec.search_params, "tuning": spec.tuning},
            "rows": rows,
        }


def markdown(report: dict[str, Any]) -> str:
    tuning = report["built_with"]["tuning"] or {}
    lines = [
        f"Stage 1 at TVR scale ({report['snapshot']['videos']:,} videos, {report['snapshot']['segments']:,} "
        f"segments, `{report['snapshot']['factory']}`), {report['queries']} real TVR val queries, recall@"
        f"{report['k']} of videos against exact search; CPU-ms per query on one thread (a shared 2-core "
        "machine: compare rows, not absolute figures).",
        f"The build chose `{tuning.get('search_params')}` fetch {tuning.get('fetch')} on pseudo-queries "
        f"(their recall {tuning.get('recall')}).",
        "",
        "| design | setting | recall@100 mean | min | CPU-ms p50 | mean |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['design']} | {row['setting']} | {row['recall_mean']} | {row['recall_min']} | "
            f"{row['cpu_ms_p50']} | {row['cpu_ms_mean']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / ".work" / "scale")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--pq-m", type=int, default=64, help="PQ sub-quantizers (4 bits each)")
    parser.add_argument("--out", type=Path, default=RESULTS / "stage1.json")
    args = parser.parse_args()
    report = run(args)
    write_report(args.out, report, markdown(report))


if __name__ == "__main__":
    main()
