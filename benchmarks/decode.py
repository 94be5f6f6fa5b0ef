"""Decode benchmark: decord vs PyAV side by side, sampling 2 fps through ``indexer.media.iter_frames``.

Usage: ``python benchmarks/decode.py [--seconds N] [--repeats N] [--out PATH]``.
Writes test videos (320x240 and 1280x720, 30 fps, h264 with B-frames, 2 s GOP) into a temp dir, then
times the whole ingest path per file (open + decode + select + letterbox to 128x96), one decoder thread per
library, median of the repeats. Wall and CPU time are both reported: on a shared machine the CPU figure is
the steadier one. Writes JSON to ``benchmarks/results/decode.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av  # noqa: E402
import decord  # noqa: E402

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine  # noqa: E402
from indexer.media import Backend, iter_frames, probe_video  # noqa: E402
from tests import factories  # noqa: E402

SIZES = [(320, 240), (1280, 720)]
BACKENDS: list[Backend] = ["decord", "pyav"]
SAMPLE_FPS = 2.0
VIDEO_FPS = 30


def sample_once(path: Path, backend: Backend) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads of this process) and frame count of one 2 fps pass."""
    wall, cpu, frames = time.perf_counter(), time.process_time(), 0
    for _ in iter_frames(path, fps=SAMPLE_FPS, backend=backend):
        frames += 1
    return time.perf_counter() - wall, time.process_time() - cpu, frames


def measure(path: Path, repeats: int) -> dict[str, dict[str, float]]:
    """Median figures per backend; the backends alternate so that load from other processes hits both."""
    runs: dict[Backend, list[tuple[float, float, int]]] = {backend: [] for backend in BACKENDS}
    for _ in range(repeats):
        for backend in BACKENDS:
            runs[backend].append(sample_once(path, backend))
    duration = probe_video(path, backend="pyav").duration
    figures: dict[str, dict[str, float]] = {}
    for backend, samples in runs.items():
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        frames = samples[0][2]
        figures[backend] = {
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "sampled_frames": frames,
            "frames_per_s": round(frames / wall, 1),
            "video_s_per_s": round(duration / wall, 1),
            "video_s_per_cpu_s": round(duration / cpu, 1),
        }
    return figures


def run(seconds: float, repeats: int) -> dict[str, Any]:
    """Write the videos, time both backends on each, return the report."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kairos-bench-") as tmp:
        for width, height in SIZES:
            path = factories.write_video(
                Path(tmp) / f"{height}p.mp4",
                seconds=seconds,
                fps=VIDEO_FPS,
                width=width,
                height=height,
                pattern="texture",
                gop=2 * VIDEO_FPS,
                preset="veryfast",
            )
            figures = measure(path, repeats)
            row: dict[str, Any] = {
                "size": f"{width}x{height}",
                "mbytes": round(path.stat().st_size / 2**20, 2),
            }
            row.update(figures)
            dec, pyav = figures["decord"], figures["pyav"]
            row["ratio_decord_over_pyav"] = round(dec["video_s_per_s"] / pyav["video_s_per_s"], 2)
            row["cpu_ratio_decord_over_pyav"] = round(dec["video_s_per_cpu_s"] / pyav["video_s_per_cpu_s"], 2)
            rows.append(row)
    return {
        "machine": machine(av=av.__version__, decord=decord.__version__, decoder_threads=1),
        "video_seconds": seconds,
        "video_fps": VIDEO_FPS,
        "repeats": repeats,
        "sample_fps": SAMPLE_FPS,
        "results": rows,
    }


def table(report: dict[str, Any]) -> str:
    """Markdown table of the figures."""
    columns = [
        "video",
        "backend",
        "wall s",
        "CPU s",
        "sampled frames/s",
        "video-s per s",
        "video-s per CPU-s",
        "decord/pyav (wall, CPU)",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in report["results"]:
        for backend in BACKENDS:
            fig = row[backend]
            ratio = (
                f"{row['ratio_decord_over_pyav']}, {row['cpu_ratio_decord_over_pyav']}"
                if backend == "decord"
                else ""
            )
            lines.append(
                f"| {row['size']} | {backend} | {fig['wall_s']} | {fig['cpu_s']} | {fig['frames_per_s']} "
                f"| {fig['video_s_per_s']} | {fig['video_s_per_cpu_s']} | {ratio} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each test video")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per backend (median reported)")
    parser.add_argument("--out", type=Path, default=RESULTS / "decode.json")
    args = parser.parse_args()
    report = run(args.seconds, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"\n{report['machine']['cpus']} CPUs, {report['machine']['platform']}; written to {args.out}")


if __name__ == "__main__":
    main()
