"""Thumbnail benchmark: one frame at t by seeking (``indexer.media.frame_at``) vs decoding from the start.

Usage: ``python benchmarks/thumbnail.py [--minutes N] [--repeats N] [--out PATH]``.
Writes one long low-res h264 video (160x120, 24 fps, a keyframe every 250 frames, so t lands mid-GOP) into
a temp dir, then times getting the frame on screen at t = 10 %, 50 %, 90 % of it, side by side:
- ``seek``: PyAV, seek to the keyframe at or before t, decode forward (what the thumbnail route now does);
- ``sequential``: PyAV decoding from the first frame up to t (``indexer.decoders.pyav_frames``);
- ``decord``: open a ``decord.VideoReader`` (it indexes the whole file) and ``get_batch`` the frame index.
Each figure is the median wall and CPU milliseconds over the repeats (open included), one decoder thread.
Writes JSON to ``benchmarks/results/thumbnail.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av  # noqa: E402
import decord  # noqa: E402
import numpy as np  # noqa: E402

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine  # noqa: E402
from indexer.decoders import Deadline, pyav_frames  # noqa: E402
from indexer.media import frame_at  # noqa: E402
from tests import factories  # noqa: E402

FPS = 24
GOP = 250
SIZE = (160, 120)
FRACTIONS = (0.1, 0.5, 0.9)
METHODS = ("seek", "sequential", "decord")


def seek(path: Path, t: float) -> np.ndarray:
    """The frame at t by seeking (the thumbnail route's reader)."""
    return frame_at(path, t)[1]


def sequential(path: Path, t: float) -> np.ndarray:
    """The frame at t by decoding from the start."""
    return next(pyav_frames(path, iter([t]), Deadline(path, 3600.0), 60.0))[1]


def with_decord(path: Path, t: float) -> np.ndarray:
    """The frame at t with decord: open the reader, fetch the frame index on screen at t."""
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    return np.asarray(reader.get_batch([int(t * FPS + 1e-9)]).asnumpy()[0])


READERS: dict[str, Callable[[Path, float], np.ndarray]] = {
    "seek": seek,
    "sequential": sequential,
    "decord": with_decord,
}


def timed(
    reader: Callable[[Path, float], np.ndarray], path: Path, t: float
) -> tuple[float, float, np.ndarray]:
    """Wall ms, CPU ms and the frame of one read."""
    wall, cpu = time.perf_counter(), time.process_time()
    image = reader(path, t)
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3, image


def measure(path: Path, t: float, repeats: int) -> dict[str, Any]:
    """Median figures of each method at t (methods alternate), and whether their frames agree."""
    runs: dict[str, list[tuple[float, float, np.ndarray]]] = {m: [] for m in METHODS}
    for _ in range(repeats):
        for method in METHODS:
            runs[method].append(timed(READERS[method], path, t))
    row: dict[str, Any] = {"t": round(t, 3)}
    for method, samples in runs.items():
        row[method] = {
            "wall_ms": round(statistics.median(s[0] for s in samples), 2),
            "cpu_ms": round(statistics.median(s[1] for s in samples), 2),
        }
    reference = runs["sequential"][0][2].astype(np.int16)
    row["seek_mean_abs_diff"] = round(float(np.abs(runs["seek"][0][2] - reference).mean()), 3)
    row["decord_mean_abs_diff"] = round(float(np.abs(runs["decord"][0][2] - reference).mean()), 3)
    row["sequential_over_seek"] = round(row["sequential"]["wall_ms"] / row["seek"]["wall_ms"], 1)
    row["decord_over_seek"] = round(row["decord"]["wall_ms"] / row["seek"]["wall_ms"], 1)
    row["cpu_sequential_over_seek"] = round(row["sequential"]["cpu_ms"] / row["seek"]["cpu_ms"], 1)
    return row


def run(minutes: float, repeats: int) -> dict[str, Any]:
    """Write the long video, time the three methods at each t, return the report."""
    seconds = minutes * 60
    with tempfile.TemporaryDirectory(prefix="kairos-bench-") as tmp:
        path = factories.write_video(
            Path(tmp) / "long.mp4",
            seconds=seconds,
            fps=FPS,
            width=SIZE[0],
            height=SIZE[1],
            pattern="texture",
            gop=GOP,
        )
        mbytes = round(path.stat().st_size / 2**20, 1)
        rows = [measure(path, fraction * seconds, repeats) for fraction in FRACTIONS]
    return {
        "machine": machine(av=av.__version__, decord=decord.__version__, decoder_threads=1),
        "video": {"seconds": seconds, "fps": FPS, "gop_frames": GOP, "size": f"{SIZE[0]}x{SIZE[1]}"},
        "mbytes": mbytes,
        "repeats": repeats,
        "results": rows,
    }


def table(report: dict[str, Any]) -> str:
    """Markdown table of the figures (wall ms, CPU ms in brackets)."""
    lines = [
        "| t (s) | seek ms | sequential ms | decord ms | sequential/seek | decord/seek | seq/seek CPU |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["results"]:
        cells = [f"{row[m]['wall_ms']} ({row[m]['cpu_ms']})" for m in METHODS]
        ratios = (
            f"{row['sequential_over_seek']} | {row['decord_over_seek']} | {row['cpu_sequential_over_seek']}"
        )
        lines.append(f"| {row['t']} | " + " | ".join(cells) + f" | {ratios} |")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run, write the JSON, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "thumbnail.json")
    args = parser.parse_args()
    report = run(args.minutes, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))


if __name__ == "__main__":
    main()
