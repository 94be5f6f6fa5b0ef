"""Precomputed features: loading, nearest-frame resampling, grouping into clips, subtitles beside them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.features import (
    FeatureError,
    feature_items,
    group_clips,
    load_features,
    read_feature_clips,
    resample,
)


def test_resample_picks_the_nearest_source_frame() -> None:
    source = np.arange(10, dtype=np.float32)[:, None]  # 10 frames at 4 fps = 2.5 s
    out = resample(source, source_fps=4.0, fps=2.0)  # t = 0, 0.5, 1.0, 1.5, 2.0
    assert out[:, 0].tolist() == [0, 2, 4, 6, 8]
    up = resample(source[:3], source_fps=1.0, fps=2.0)  # 3 s at 1 fps -> t = 0, .5, ..., 2.5
    assert up[:, 0].tolist() == [0, 0, 1, 2, 2, 2]  # round half to even, clamped to the last frame


def test_group_clips_follows_the_clip_contract() -> None:
    frames = np.arange(7, dtype=np.float32)[:, None]  # 7 frames at 2 fps: t = 0 .. 3.0, duration 3.5 s
    feats, mask = group_clips(frames, fps=2.0, clip_seconds=1.5, frames_per_clip=3)
    assert feats.shape == (3, 3, 1)  # ceil(3.5 / 1.5) clips
    assert mask.tolist() == [[True, True, True], [True, True, True], [True, False, False]]
    assert feats[:, :, 0].tolist() == [[0, 1, 2], [3, 4, 5], [6, 0, 0]]


def test_load_npy_and_npz(tmp_path: Path) -> None:
    array = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float16)
    np.save(tmp_path / "a.npy", array)
    np.savez(tmp_path / "b.npz", features=array)
    for name in ("a.npy", "b.npz"):
        loaded = load_features(tmp_path / name, 8)
        assert loaded.dtype == np.float32 and np.allclose(loaded, array)


def test_wrong_dimension_names_file_and_both_dims(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((4, 12), dtype=np.float32))
    with pytest.raises(FeatureError, match="D=12") as info:
        load_features(tmp_path / "v.npy", 32)
    assert str(tmp_path / "v.npy") in str(info.value) and "32" in str(info.value)


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("a.npz", lambda p: np.savez(p, other=np.zeros((2, 4))), "no 'features' array"),
        ("b.npy", lambda p: p.write_bytes(b"garbage"), "not a readable numpy"),
        ("c.npy", lambda p: np.save(p, np.zeros((2, 2, 4))), "shape"),
        ("d.npy", lambda p: np.save(p, np.full((2, 4), np.nan)), "finite"),
    ],
)
def test_bad_feature_files(tmp_path: Path, name: str, write: object, message: str) -> None:
    path = tmp_path / name
    write(path)  # type: ignore[operator]
    with pytest.raises(FeatureError, match=message):
        load_features(path, 4)


def test_items_and_clips_with_subtitles(tmp_path: Path) -> None:
    np.save(tmp_path / "talk.npy", np.ones((8, 4), dtype=np.float32))  # 8 frames at 2 fps = 4 s
    (tmp_path / "talk.srt").write_text("1\n00:00:01,600 --> 00:00:02,900\nhello there\n")
    (tmp_path / "readme.txt").write_text("not features")
    (item,) = feature_items(tmp_path)
    assert (item.video_id, item.subtitles) == ("talk", tmp_path / "talk.srt")
    feats, mask, texts, duration = read_feature_clips(item, 4, 2.0, 2.0, 1.5, 3)
    assert feats.shape == (3, 3, 4) and mask.sum() == 8 and duration == 4.0
    assert texts == ["", "hello there", ""]
