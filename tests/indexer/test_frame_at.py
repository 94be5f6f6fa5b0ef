"""indexer.media.frame_at (the seeking single-frame reader) against the sequential decoder, on real files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from indexer.decoders import Deadline, pyav_frames
from indexer.media import (
    DataEndsError,
    DecodeTimeoutError,
    MediaNotFoundError,
    NotAVideoError,
    frame_at,
)
from tests import factories

pytestmark = pytest.mark.timeout(60)

VFR_GAPS_MS = (20, 40, 100, 250, 40, 40, 500, 20)


def write_ts(path: Path, source: Path) -> Path:
    """Remux ``source`` into MPEG-TS, a container with no index (seeking searches by timestamp)."""
    with av.open(str(source)) as src, av.open(str(path), "w", format="mpegts") as out:
        video = src.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in src.demux(video):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def write_vfr(path: Path, frames: int = 96) -> Path:
    """An "index"-pattern h264 mp4 whose frame durations vary (``VFR_GAPS_MS`` in turn), keyframe every 12."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.gop_size = 12
        stream.options = {"preset": "ultrafast", "crf": "18", "threads": "1"}
        pts = 0
        for i in range(frames):
            image = np.full((48, 64, 3), factories.index_colour(i), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            pts += VFR_GAPS_MS[i % len(VFR_GAPS_MS)]
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real videos: B-frames with a 2.5 s GOP, its MPEG-TS remux, variable frame rate, a truncated copy."""
    root = tmp_path_factory.mktemp("seek")
    bframes = factories.write_video(
        root / "bframes.mp4",
        seconds=8.0,
        fps=10,
        width=128,
        height=96,
        gop=25,
        preset="veryfast",
        faststart=True,
    )
    texture = factories.write_video(
        root / "texture.mp4", seconds=6.0, fps=25, width=96, height=64, pattern="texture", gop=50
    )
    return {
        "bframes": bframes,
        "texture": texture,
        "ts": write_ts(root / "bframes.ts", bframes),
        "vfr": write_vfr(root / "vfr.mp4"),
        "truncated": factories.write_truncated(root / "cut.mp4", bframes, keep=0.6),
    }


def sequential(path: Path, t: float) -> tuple[float, np.ndarray]:
    """The frame the sequential PyAV decoder (decoding from the start) yields at t."""
    return next(pyav_frames(path, iter([t]), Deadline(path, 60.0), 10.0))


def assert_same_frame(path: Path, t: float) -> np.ndarray:
    """frame_at(t) is pixel-close to the sequential frame at t; returns it."""
    _, image = frame_at(path, t)
    _, expected = sequential(path, t)
    assert image.shape == expected.shape and image.dtype == np.uint8
    assert np.abs(image.astype(np.int16) - expected).mean() < 0.5, f"{path.name} at t={t}"
    return image


@pytest.mark.parametrize("name", ["bframes", "ts", "texture"])
@pytest.mark.parametrize("t", [0.0, 0.05, 2.45, 2.5, 3.0, 4.04, 5.9])
def test_seek_gives_the_sequential_frame(videos: dict[str, Path], name: str, t: float) -> None:
    image = assert_same_frame(videos[name], t)
    if name != "texture":  # the "index" pattern names its frame
        assert factories.decode_index(image) == int(t * 10 + 1e-9)


@pytest.mark.parametrize("t", [0.0, 0.5, 1.7, 4.03, 9.0, 11.9])
def test_variable_frame_rate_follows_timestamps(videos: dict[str, Path], t: float) -> None:
    starts = np.cumsum((0,) + VFR_GAPS_MS * 12)[:96] / 1000
    start, image = frame_at(videos["vfr"], t)
    shown = int(np.searchsorted(starts, t + 1e-9, side="right")) - 1
    assert start == pytest.approx(starts[shown], abs=1e-3)
    assert factories.decode_index(image) == shown
    assert_same_frame(videos["vfr"], t)


def test_late_keyframe_seek_matches_the_end(videos: dict[str, Path]) -> None:
    start, image = frame_at(videos["bframes"], 7.95)
    assert start == pytest.approx(7.9) and factories.decode_index(image) == 79


def test_past_the_last_frame_gives_the_last_frame(videos: dict[str, Path]) -> None:
    for t in (8.0, 30.0):
        start, image = frame_at(videos["bframes"], t)
        assert start == pytest.approx(7.9) and factories.decode_index(image) == 79


def test_truncated_file_early_frames_then_a_clear_error(videos: dict[str, Path]) -> None:
    path = videos["truncated"]
    assert_same_frame(path, 1.0)
    last_t, last = list(pyav_frames(path, iter(np.arange(0, 8, 0.1).tolist()), Deadline(path, 60), 10))[-1]
    with pytest.raises(DataEndsError, match="cut.mp4") as caught:
        frame_at(path, 7.5)
    assert last_t < caught.value.data_end < 7.5
    assert factories.decode_index(frame_at(path, last_t)[1]) == factories.decode_index(last)


@pytest.mark.parametrize("t", [-0.1, float("nan"), float("inf")])
def test_bad_times_are_refused(videos: dict[str, Path], t: float) -> None:
    with pytest.raises(ValueError, match="t must be"):
        frame_at(videos["bframes"], t)


def test_bad_files_raise_media_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError):
        frame_at(tmp_path / "missing.mp4", 1.0)
    with pytest.raises(NotAVideoError):
        frame_at(factories.write_text_as_video(tmp_path / "notes.mp4"), 1.0)


def test_decode_watchdog(videos: dict[str, Path]) -> None:
    with pytest.raises(DecodeTimeoutError, match="bframes.mp4"):
        frame_at(videos["bframes"], 4.0, budget_s=0.0)
