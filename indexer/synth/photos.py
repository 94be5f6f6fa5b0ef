"""A small corpus of real pictures: videos that show photographs scikit-image ships, a few seconds each.

Every photograph appears once in the corpus, so each hand-written query ("a cat", "a cup of coffee") has one
right moment. The queries name what a person sees in the picture, in a person's words; they were written
before any model was run on them and are not tuned to ImageNet's class names (several name things ImageNet
has no class for: grass, the moon, a brick wall). Annotations are TVR jsonl (type "v").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from indexer.media import letterbox

SECONDS_PER_PHOTO = 6.0
FPS = 4
SIZE = (640, 480)


@dataclass(frozen=True)
class Photo:
    """A photograph of scikit-image's `data` module and the query a person would type to find it."""

    name: str
    query: str


VIDEOS: tuple[tuple[Photo, ...], ...] = (
    (Photo("chelsea", "a cat"), Photo("coffee", "a cup of coffee"), Photo("rocket", "a rocket launch")),
    (
        Photo("motorcycle_left", "a motorbike"),
        Photo("camera", "a man taking photos with a camera on a tripod"),
        Photo("astronaut", "an astronaut"),
    ),
    (Photo("coins", "a pile of old coins"), Photo("clock_motion", "a clock"), Photo("brick", "a brick wall")),
    (
        Photo("grass", "green grass"),
        Photo("moon", "the surface of the moon"),
        Photo("hubble_deep_field", "galaxies in deep space"),
    ),
)


def load_photo(name: str) -> np.ndarray:
    """The photograph `name` from scikit-image's data folder as uint8 RGB [H, W, 3] (grey ones repeated)."""
    import skimage.io
    from skimage import data

    folder = Path(data.__file__).parent
    matches = sorted(folder.glob(f"{name}.*"))
    if not matches:
        raise FileNotFoundError(f"scikit-image ships no photograph named {name!r} in {folder}")
    image = np.asarray(skimage.io.imread(matches[0]))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def write_photo_video(path: Path, photos: tuple[Photo, ...]) -> float:
    """An h264 video showing each photo for SECONDS_PER_PHOTO, letterboxed to SIZE; returns its duration."""
    frames_each = round(SECONDS_PER_PHOTO * FPS)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20", "threads": "1"}
        for photo in photos:
            frame = av.VideoFrame.from_ndarray(letterbox(load_photo(photo.name), SIZE), format="rgb24")
            for _ in range(frames_each):
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return len(photos) * SECONDS_PER_PHOTO


def write_photo_corpus(out: Path) -> Path:
    """Write OUT/videos/photos_<i>.mp4 and OUT/annotations/test.jsonl; returns the annotations file."""
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for v, photos in enumerate(VIDEOS):
        name = f"photos_{v}"
        duration = write_photo_video(out / "videos" / f"{name}.mp4", photos)
        for p, photo in enumerate(photos):
            span = [p * SECONDS_PER_PHOTO, (p + 1) * SECONDS_PER_PHOTO]
            rows.append(
                {
                    "vid_name": name,
                    "duration": duration,
                    "ts": span,
                    "desc": photo.query,
                    "type": "v",
                    "desc_id": len(rows),
                }
            )
    annotations = out / "annotations" / "test.jsonl"
    annotations.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return annotations
