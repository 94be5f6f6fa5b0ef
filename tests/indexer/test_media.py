"""indexer.media on real files written by tests.factories (no decoder mocks)."""

from __future__ import annotations

import math
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indexer.media import (
    CorruptMediaError,
    DecodeTimeoutError,
    MediaError,
    MediaNotFoundError,
    NotAVideoError,
    iter_clips,
    iter_frames,
    letterbox,
    probe_video,
    sample_times,
)
from indexer.subtitles import Cue
from tests import factories

pytestmark = pytest.mark.timeout(60)

BACKENDS = ["pyav", "decord"]
WIDE_FPS = 30000 / 1001


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real videos shared by the tests of this module."""
    root = tmp_path_factory.mktemp("videos")
    wide = factories.write_video(root / "wide.mp4", seconds=3.3, fps=WIDE_FPS, width=96, height=54)
    faststart = factories.write_video(root / "faststart.mp4", seconds=4.0, fps=10, faststart=True)
    return {
        "wide": wide,
        "four": factories.write_video(root / "four.mp4", seconds=4.0, fps=10),
        "faststart": faststart,
        "truncated_data": factories.write_truncated(root / "cut_data.mp4", faststart, keep=0.6),
    }


def test_sample_times_are_k_over_fps_below_duration() -> None:
    assert list(sample_times(1.5, 2.0)) == [0.0, 0.5, 1.0]
    assert list(sample_times(1.6, 2.0)) == [0.0, 0.5, 1.0, 1.5]
    assert list(sample_times(0.1, 2.0)) == [0.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_probe_reports_duration_fps_frames_size(videos: dict[str, Path], backend: str) -> None:
    info = probe_video(videos["wide"], backend=backend)  # type: ignore[arg-type]
    assert info.backend == backend
    assert info.fps == pytest.approx(WIDE_FPS)
    assert info.frame_count == 99
    assert info.duration == pytest.approx(99 / WIDE_FPS)
    assert (info.width, info.height) == (96, 54)
    assert info.path == str(videos["wide"])


def test_auto_backend_prefers_decord(videos: dict[str, Path]) -> None:
    assert probe_video(videos["four"]).backend == "decord"


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_sample_is_the_frame_on_screen(videos: dict[str, Path], backend: str) -> None:
    frames = list(iter_frames(videos["wide"], size=(96, 54), backend=backend))  # type: ignore[arg-type]
    assert [t for t, _ in frames] == [k / 2 for k in range(7)]
    expected = [math.floor(t * WIDE_FPS + 1e-9) for t, _ in frames]
    assert [factories.decode_index(image) for _, image in frames] == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_sample_on_a_frame_boundary_takes_the_frame_starting_there(
    videos: dict[str, Path], backend: str
) -> None:
    frames = list(iter_frames(videos["four"], fps=5.0, backend=backend))  # type: ignore[arg-type]
    assert [factories.decode_index(image) for _, image in frames] == list(range(0, 40, 2))


def test_backends_agree_on_timestamps_and_pixels(videos: dict[str, Path]) -> None:
    for name in ("wide", "four"):
        pyav = list(iter_frames(videos[name], fps=3.0, backend="pyav"))
        dec = list(iter_frames(videos[name], fps=3.0, backend="decord"))
        assert [t for t, _ in pyav] == [t for t, _ in dec]
        diff = np.abs(np.stack([i for _, i in pyav]).astype(int) - np.stack([i for _, i in dec]).astype(int))
        assert diff.mean() < 2.0


def test_frames_are_letterboxed_uint8(videos: dict[str, Path]) -> None:
    t, image = next(iter_frames(videos["wide"]))
    assert (t, image.shape, image.dtype) == (0.0, (96, 128, 3), np.uint8)
    assert image[:10].max() == 0 and image[-10:].max() == 0
    assert image[48].min() > 0


def test_letterbox_wide_image_gets_bars_top_and_bottom() -> None:
    out = letterbox(np.full((90, 160, 3), 200, dtype=np.uint8), (128, 96))
    assert out.shape == (96, 128, 3)
    assert out[:12].max() == 0 and out[84:].max() == 0
    assert (out[12:84] == 200).all()


def test_letterbox_tall_image_gets_bars_left_and_right() -> None:
    out = letterbox(np.full((96, 48, 3), 100, dtype=np.uint8), (128, 96))
    assert out[:, :40].max() == 0 and out[:, 88:].max() == 0
    assert (out[:, 40:88] == 100).all()


def test_letterbox_same_aspect_fills_target() -> None:
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    assert (letterbox(image, (128, 96)) > 0).mean() > 0.99
    assert letterbox(image, (64, 48)) is image


def test_clips_count_timestamps_and_last_clip(videos: dict[str, Path]) -> None:
    clips = list(iter_clips(videos["four"]))
    assert [c.index for c in clips] == [0, 1, 2]
    assert [(c.start, c.end) for c in clips] == [(0.0, 1.5), (1.5, 3.0), (3.0, 4.0)]
    assert [c.timestamps.tolist() for c in clips] == [[0.0, 0.5, 1.0], [1.5, 2.0, 2.5], [3.0, 3.5]]
    assert [c.frames.shape for c in clips] == [(3, 96, 128, 3)] * 2 + [(2, 96, 128, 3)]
    assert [factories.decode_index(f) for f in clips[1].frames] == [15, 20, 25]


def test_clip_without_a_sample_reuses_the_last_frame(videos: dict[str, Path]) -> None:
    clips = list(iter_clips(videos["four"], fps=0.5, clip_seconds=1.0, backend="pyav"))
    assert [c.timestamps.tolist() for c in clips] == [[0.0], [0.0], [2.0], [2.0]]
    assert all(len(c.frames) == 1 for c in clips)
    np.testing.assert_array_equal(clips[1].frames, clips[0].frames)


def test_clips_carry_overlapping_subtitle_text(videos: dict[str, Path]) -> None:
    cues = [Cue(0.2, 1.0, "hello"), Cue(1.4, 3.2, "world")]
    texts = [c.text for c in iter_clips(videos["four"], cues=cues)]
    assert texts == ["hello world", "world", "world"]


def test_iteration_is_streamed_not_listed(videos: dict[str, Path]) -> None:
    frames = iter_frames(videos["four"])
    clips = iter_clips(videos["four"])
    assert isinstance(frames, types.GeneratorType) and isinstance(clips, types.GeneratorType)
    assert next(clips).index == 0


def test_truncated_data_yields_what_exists_and_stops(videos: dict[str, Path]) -> None:
    path = videos["truncated_data"]
    info = probe_video(path)
    assert info.backend == "pyav" and info.duration == pytest.approx(4.0)
    times = [t for t, _ in iter_frames(path)]
    assert times == [k / 2 for k in range(len(times))] and 1 <= len(times) < 8
    clips = list(iter_clips(path))
    assert 1 <= len(clips) < 3


def test_decord_missing_falls_back_to_pyav(videos: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "decord", None)
    assert probe_video(videos["four"]).backend == "pyav"
    assert len(list(iter_frames(videos["four"]))) == 8
    with pytest.raises(MediaError, match="decord is not installed"):
        probe_video(videos["four"], backend="decord")


def test_explicit_decord_on_a_file_decord_cannot_open(videos: dict[str, Path]) -> None:
    with pytest.raises(CorruptMediaError, match="cut_data.mp4"):
        probe_video(videos["truncated_data"], backend="decord")


def test_unknown_backend_is_rejected(videos: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        probe_video(videos["four"], backend="ffmpeg")  # type: ignore[arg-type]


BAD_FILES: list[tuple[str, Callable[[Path, Path], Path], type[MediaError], str]] = [
    ("missing.mp4", lambda p, _: p, MediaNotFoundError, "no such file"),
    ("zero.mp4", lambda p, _: factories.write_zero_byte(p), CorruptMediaError, "0 bytes"),
    ("notes.mp4", lambda p, _: factories.write_text_as_video(p), NotAVideoError, "not a video"),
    ("cut.mp4", lambda p, good: factories.write_truncated(p, good), CorruptMediaError, "truncated"),
    ("garbage.mp4", lambda p, _: factories.write_garbage_mp4(p), CorruptMediaError, "corrupt"),
    ("song.m4a", lambda p, _: factories.write_audio_only(p), NotAVideoError, "audio-only"),
    ("song.mp4", lambda p, _: factories.write_audio_only(p, codec="mp2"), NotAVideoError, "audio-only"),
    ("empty.mp4", lambda p, _: factories.write_empty_video(p), CorruptMediaError, "zero-length"),
]


@pytest.mark.parametrize(("name", "make", "error", "problem"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_input_raises_typed_error_naming_the_file(
    videos: dict[str, Path],
    tmp_path: Path,
    name: str,
    make: Callable[[Path, Path], Path],
    error: type[MediaError],
    problem: str,
) -> None:
    path = make(tmp_path / name, videos["four"])
    for call in (probe_video, iter_clips, iter_frames):
        with pytest.raises(error) as caught:
            call(path)
        assert name in str(caught.value) and problem in str(caught.value)


def test_decode_budget_watchdog(videos: dict[str, Path]) -> None:
    frames = iter_frames(videos["four"], budget_s=0.0)
    with pytest.raises(DecodeTimeoutError, match="four.mp4"):
        list(frames)


def test_open_watchdog_on_a_file_that_never_opens(tmp_path: Path) -> None:
    pipe = tmp_path / "stuck.mp4"
    os.mkfifo(pipe)
    with pytest.raises(DecodeTimeoutError, match="stuck.mp4"):
        probe_video(pipe, open_timeout_s=0.3)
    os.close(os.open(pipe, os.O_WRONLY))  # let the abandoned open finish
