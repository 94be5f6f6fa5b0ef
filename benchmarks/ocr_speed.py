"""What reading on-screen text costs: `kairos index` with `--streams subtitles` and `--streams subtitles,ocr`
side by side, and the OCR re-read trigger measured.

Three kinds of picture, each indexed twice into fresh roots with the default model and one decode process
(after a warm-up run): slides (1280x720, 25 fps: a slide every 10 s, shown 8 s, one line of text and a
second from halfway, 36 px high, with a small square moving across, as a pointer would), the synthetic
corpus (`kairos synth`, 320x240: moving shapes, camera noise) and scrolling noise (320x240, 25 fps: every
sample differs). Figures: video-seconds per wall-second of the decode+encode stage, OCR seconds (summed
over workers), OCR samples, reads and lines.

The trigger: on the slides, the mean absolute difference (grey levels, 64-pixel-wide thumbnails) between
consecutive 1 fps samples, where the text on screen stayed the same and where it changed; then reads and
lines found (of the lines drawn; and found but for a missing space) at several triggers, 0 being "read
every sample"; then the same at several widths frames are read at, with the default trigger.
Writes `benchmarks/results/ocr_speed.json` and `ocr_speed.md` (also printed).

    .venv/bin/python benchmarks/ocr_speed.py [--videos 2] [--seconds 60]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine, write_report  # noqa: E402
from indexer.media import iter_frames, probe_video  # noqa: E402
from indexer.pipeline import IndexOptions, index  # noqa: E402
from indexer.streams import StreamSettings  # noqa: E402
from indexer.streams.ocr import ScreenReader, ScreenScan, difference, ocr_size, thumbnail  # noqa: E402
from indexer.streams.settings import OcrSettings  # noqa: E402
from indexer.synth import SynthConfig, generate_corpus  # noqa: E402
from models.model import KairosModel  # noqa: E402
from models.pretrained import DEFAULT_MODEL, resolve_model  # noqa: E402
from tests import factories  # noqa: E402

WORDS = [
    *("budget", "turbine", "pelican", "harbour", "quarterly", "review", "glacier", "lantern", "orchard"),
    *("summit", "copper", "meadow", "velvet", "canyon", "ember", "falcon", "granite", "horizon", "island"),
    *("jasmine", "kettle", "lagoon", "marble", "nectar"),
]
SLIDE_EVERY_S, SLIDE_SHOWN_S = 10.0, 8.0
TRIGGERS = (0.0, 0.5, 1.0, 2.0, 4.0)
WIDTHS = (640, 960, 1280)
Slides = list[tuple[float, float, list[str]]]


def slide_plan(seconds: float, seed: int) -> Slides:
    """A slide every SLIDE_EVERY_S seconds, shown SLIDE_SHOWN_S: a line of three random words, and halfway
    through a second line below it (as a slide deck builds)."""
    rng = random.Random(seed)
    plan: Slides = []
    for k in range(int(seconds // SLIDE_EVERY_S)):
        start, end = k * SLIDE_EVERY_S, k * SLIDE_EVERY_S + SLIDE_SHOWN_S
        first, second = (" ".join(rng.sample(WORDS, 3)).capitalize() for _ in range(2))
        plan += [(start, end, [first]), (start + SLIDE_SHOWN_S / 2, end, ["", second])]
    return plan


def write_corpora(tmp: Path, videos: int, seconds: float) -> tuple[dict[str, Path], dict[Path, Slides]]:
    """The three folders of videos, and the slides drawn into each slides video."""
    folders = {name: tmp / name for name in ("slides", "synthetic", "noise")}
    folders["slides"].mkdir()
    folders["noise"].mkdir()
    plans = {}
    for i in range(videos):
        path = folders["slides"] / f"slides{i}.mp4"
        plans[path] = slide_plan(seconds, i)
        factories.write_text_video(path, plans[path], seconds=seconds, fps=25, width=1280, height=720)
        factories.write_video(
            folders["noise"] / f"noise{i}.mp4",
            seconds=seconds,
            fps=25,
            width=320,
            height=240,
            pattern="texture",
        )
    config = SynthConfig(
        videos=videos, seed=11, min_duration=seconds, max_duration=seconds, compositional_videos=0
    )
    generate_corpus(tmp / "synth", config)
    folders["synthetic"] = tmp / "synth" / "videos"
    return folders, plans


def indexing(model: KairosModel, folder: Path, root: Path, streams: tuple[str, ...]) -> dict[str, Any]:
    """One `kairos index` run of ``folder`` reading ``streams``: its throughput and stage seconds."""
    report = index(root, [str(folder)], model, IndexOptions(workers=1, streams=StreamSettings(streams)))
    counts, timings = report["counts"], report["timings"]
    assert counts["failed"] == 0, report["failed"]
    return {
        "streams": ",".join(streams),
        "videos": counts["indexed"],
        "video_seconds": counts["video_seconds_encoded"],
        "video_s_per_s": report["throughput"]["video_seconds_per_second"],
        "pipeline_s": timings["pipeline"],
        "decode_s": timings["decode"],
        "ocr_s": timings["ocr"],
        "encode_s": timings["encode"],
        "ocr_samples": counts["ocr_samples"],
        "ocr_reads": counts["ocr_reads"],
        "ocr_lines": counts["ocr_lines"],
    }


def on_screen(plan: Slides, t: float) -> frozenset[str]:
    return frozenset(line for start, end, lines in plan if start <= t < end for line in lines if line)


def differences(plans: dict[Path, Slides]) -> dict[str, dict[str, float]]:
    """Thumbnail differences between consecutive 1 fps samples, where the text stayed and where it changed."""
    found: dict[str, list[float]] = {"text_same": [], "text_changed": []}
    for path, plan in plans.items():
        info = probe_video(path)
        last: tuple[float, Any] | None = None
        for t, image in iter_frames(path, 1.0, ocr_size(info.width, info.height, OcrSettings().max_width)):
            thumb = thumbnail(image)
            if last is not None:
                changed = on_screen(plan, t) != on_screen(plan, last[0])
                found["text_changed" if changed else "text_same"].append(difference(thumb, last[1]))
            last = (t, thumb)
    return {
        key: {"n": len(v), "min": min(v), "median": statistics.median(v), "max": max(v)}
        for key, v in found.items()
    }


def squash(line: str) -> str:
    """A line without its spaces (the recogniser sometimes drops the space between two words)."""
    return "".join(line.split())


def sweep(plans: dict[Path, Slides], settings: list[OcrSettings]) -> list[dict[str, Any]]:
    """Reads, seconds and lines found (of those drawn) on the slides with each of ``settings``."""
    drawn = {line.casefold() for plan in plans.values() for _, _, lines in plan for line in lines if line}
    rows = []
    for ocr in settings:
        reader = ScreenReader(ocr.max_width)
        samples = reads = 0
        read: set[str] = set()
        started = time.perf_counter()
        for path in plans:
            scan = ScreenScan(path, reader, ocr)
            for _ in scan:
                pass
            samples, reads = samples + scan.samples, reads + scan.reads
            read |= {cue.text.casefold() for cue in scan.cues()}
        rows.append(
            {
                "trigger": ocr.trigger,
                "max_width": ocr.max_width,
                "samples": samples,
                "reads": reads,
                "seconds": time.perf_counter() - started,
                "lines_drawn": len(drawn),
                "lines_found": len(drawn & read),
                "found_but_spaces": len({squash(x) for x in drawn - read} & {squash(x) for x in read}),
                "other_lines": len(read - drawn),
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    runs = result["indexing"]
    lines = [
        "| picture | streams | videos | video s | video-s/s | OCR s | decode s | encode s | OCR samples "
        "| reads | lines |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['picture']} | {r['streams']} | {r['videos']} | {r['video_seconds']:.0f} "
            f"| {r['video_s_per_s']:.1f} | {r['ocr_s']:.1f} | {r['decode_s']:.1f} | {r['encode_s']:.1f} "
            f"| {r['ocr_samples']} | {r['ocr_reads']} | {r['ocr_lines']} |"
            for r in runs
        ),
        "",
        "| slides: consecutive samples | n | min | median | max |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {key} | {d['n']} | {d['min']:.2f} | {d['median']:.2f} | {d['max']:.2f} |"
            for key, d in result["trigger"]["differences"].items()
        ),
        "",
        "| trigger | max width | samples | reads | seconds | lines found / drawn | found but for spaces "
        "| other lines |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['trigger']:g} | {r['max_width']} | {r['samples']} | {r['reads']} | {r['seconds']:.1f} | "
            f"{r['lines_found']} / {r['lines_drawn']} | {r['found_but_spaces']} | {r['other_lines']} |"
            for r in result["trigger"]["sweep"] + result["widths"]
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2, help="videos of each kind of picture")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each video")
    args = parser.parse_args()
    model = resolve_model(DEFAULT_MODEL)
    runs = []
    with tempfile.TemporaryDirectory(prefix="kairos-ocr-bench-") as name:
        tmp = Path(name)
        folders, plans = write_corpora(tmp, args.videos, args.seconds)
        warmup = tmp / "warmup"
        warmup.mkdir()
        factories.write_text_video(warmup / "w.mp4", [(0.0, 2.0, ["Warm up"])], seconds=3.0)
        indexing(model, warmup, tmp / "root-warmup", ("subtitles", "ocr"))  # forkserver, torch, MiniLM
        for picture, folder in folders.items():
            for streams in (("subtitles",), ("subtitles", "ocr")):
                root = tmp / f"root-{picture}-{len(streams)}"
                runs.append({"picture": picture, **indexing(model, folder, root, streams)})
        triggers = [OcrSettings(trigger=trigger) for trigger in TRIGGERS]
        trigger = {
            "default": OcrSettings().trigger,
            "differences": differences(plans),
            "sweep": sweep(plans, triggers),
        }
        widths = sweep(plans, [OcrSettings(max_width=width) for width in WIDTHS])
    result = {
        "machine": machine(),
        "model": DEFAULT_MODEL,
        "ocr": vars(OcrSettings()),
        "videos_per_picture": args.videos,
        "seconds_per_video": args.seconds,
        "indexing": runs,
        "trigger": trigger,
        "widths": widths,
    }
    write_report(RESULTS / "ocr_speed.json", result, markdown(result))


if __name__ == "__main__":
    main()
