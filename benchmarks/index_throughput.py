"""Indexing throughput of the batch pipeline (decode workers -> encoder -> snapshot) at 320x240 and 1280x720.

Writes a few h264 "texture" videos per size (30 fps, 2 s GOP) with subtitles, then indexes each set into a
fresh snapshot root with the default model (`kairos-small`, random weights unless bundled: speed does not
depend on them), one torch thread, `--workers` decode processes, after one warm-up run (the forkserver
starts once per process).
Figures: video-seconds and clips per
wall-second of the decode+encode stage, seconds per stage (decode is summed over workers), write and
publish, and snapshot bytes per video-hour. Writes JSON to `benchmarks/results/index_throughput.json`
and a markdown table to `index_throughput.md` (also printed).

    .venv/bin/python benchmarks/index_throughput.py [--videos 3] [--seconds 40] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine  # noqa: E402
from indexer.pipeline import IndexOptions, index  # noqa: E402
from models.model import KairosModel  # noqa: E402
from models.pretrained import DEFAULT_MODEL, model_fingerprint, resolve_model  # noqa: E402
from tests import factories  # noqa: E402

SIZES = [(320, 240), (1280, 720)]
VIDEO_FPS = 30


def write_videos(folder: Path, size: tuple[int, int], count: int, seconds: float) -> None:
    """``count`` texture videos of ``seconds`` at ``size``, each with a subtitle line every 3 s."""
    folder.mkdir(parents=True)
    for i in range(count):
        path = folder / f"v{i:02d}.mp4"
        factories.write_video(path, seconds=seconds, fps=VIDEO_FPS, width=size[0], height=size[1], gop=60)
        cues = [
            f"{n + 1}\n00:00:{3 * n:02d},000 --> 00:00:{3 * n + 2:02d},500\nline {n} of video {i}\n"
            for n in range(int(seconds // 3))
        ]
        path.with_suffix(".srt").write_text("\n".join(cues))


def snapshot_bytes(root: Path, version: str) -> int:
    return sum(p.stat().st_size for p in (root / "snapshots" / version).iterdir())


def run(model: KairosModel, folder: Path, root: Path, workers: int) -> dict[str, Any]:
    report = index(root, [str(folder)], model, IndexOptions(workers=workers))
    seconds = report["counts"]["video_seconds_encoded"]
    t = report["timings"]
    return {
        "videos": report["counts"]["indexed"],
        "failed": report["counts"]["failed"],
        "video_seconds": seconds,
        "clips": report["counts"]["clips_encoded"],
        "workers": workers,
        "video_s_per_s": report["throughput"]["video_seconds_per_second"],
        "clips_per_s": report["throughput"]["clips_per_second"],
        "stage_s": {key: t[key] for key in ("decode", "encode", "pipeline", "write", "publish", "hash")},
        "snapshot_bytes_per_video_hour": snapshot_bytes(root, report["version"]) * 3600.0 / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3, help="videos per size")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each video")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="decode process counts")
    args = parser.parse_args()
    model = resolve_model(DEFAULT_MODEL)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kairos-index-bench-") as tmp:
        warmup = Path(tmp) / "warmup"
        write_videos(warmup, SIZES[0], 1, 3.0)
        run(model, warmup, Path(tmp) / "root-warmup", 1)  # starts the forkserver, warms torch and MiniLM
        for width, height in SIZES:
            folder = Path(tmp) / f"videos-{width}x{height}"
            write_videos(folder, (width, height), args.videos, args.seconds)
            for workers in args.workers:
                root = Path(tmp) / f"root-{width}x{height}-{workers}"
                rows.append({"size": f"{width}x{height}", **run(model, folder, root, workers)})
    result = {
        "machine": machine(),
        "model": DEFAULT_MODEL,
        "model_fingerprint": model_fingerprint(model),
        "video_fps": VIDEO_FPS,
        "runs": rows,
    }
    lines = [
        "| size | workers | videos | video s | clips | video-s/s | clips/s | decode s | encode s | "
        "stage wall s | write s | publish s | snapshot MB / video-hour |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {r['size']} | {r['workers']} | {r['videos']} | {r['video_seconds']:.0f} | {r['clips']} | "
            f"{r['video_s_per_s']:.1f} | {r['clips_per_s']:.1f} | {r['stage_s']['decode']:.2f} | "
            f"{r['stage_s']['encode']:.2f} | {r['stage_s']['pipeline']:.2f} | {r['stage_s']['write']:.3f} | "
            f"{r['stage_s']['publish']:.3f} | {r['snapshot_bytes_per_video_hour'] / 1e6:.1f} |"
            for r in rows
        ),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "index_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "index_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
