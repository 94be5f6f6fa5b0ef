"""README figures rendered from the committed results JSON: the README must contain each phrase (whitespace
and line breaks aside).

python benchmarks/readme_figures.py   # prints every phrase; tests/test_readme_figures.py checks the README
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def real_photos(report: dict[str, Any]) -> list[str]:
    """The "What Kairos sees" figures from benchmarks/results/real_photos.json."""
    chosen = report["bundled_kairos_real"]
    rows = report["results"]
    real = rows[f"kairos-real k={chosen['concepts']} floor={chosen['concept_floor']:g}"]
    small = rows["kairos-small (synthetic-trained)"]
    n = len(real["first_moment"])
    cost = report["ms_per_frame_one_thread"]
    real_ms = next(v["encode_frames"] for k, v in cost.items() if k.startswith("kairos-real"))
    small_ms = next(v["encode_frames"] for k, v in cost.items() if k.startswith("kairos-small"))

    def hits(row: dict[str, Any]) -> str:
        share = row["VCMR_0.5_R@1"]
        return f"{round(share * n / 100)} of {n} (VCMR R@1 at IoU 0.5: {share:.1f} %)"

    return [
        f"`kairos-real` puts the right moment first for {hits(real)}; `kairos-small` for {hits(small)}.",
        f"Frame features cost {real_ms:.1f} ms a frame on one core (ONNX Runtime; kairos-small's CNN "
        f"{small_ms:.1f} ms), so indexing at 2 frames a second runs at about {1000 / (2 * real_ms):.0f} "
        "video-seconds per CPU-second",
    ]


def phrases() -> list[str]:
    """Every README phrase generated from the results folder."""
    return real_photos(json.loads((RESULTS / "real_photos.json").read_text()))


if __name__ == "__main__":
    print("\n".join(phrases()))
