"""One batch over good videos mixed with every kind of bad media: each bad file is reported with its reason,
each good file indexed.

Policy for a good video whose subtitle sidecar is bad (not UTF-8, a cue ending before it starts, unparsable):
the video is indexed without subtitles and the report lists a warning naming the subtitle file and why —
losing a whole video to a broken sidecar is worse for a user than losing its text.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from indexer.pipeline import IndexOptions, index
from indexer.snapshot import open_snapshot
from tests import factories

MODEL = "kairos-tiny"


def patch_timescale(source: Path, target: Path, timescale: int) -> Path:
    """A copy of an mp4 whose video track header (mdhd) claims ``timescale`` ticks a second (0: no rate)."""
    data = bytearray(source.read_bytes())
    at = data.find(b"mdhd")
    assert at > 0
    offset = at + 8 + (16 if data[at + 4] == 1 else 8)
    struct.pack_into(">I", data, offset, timescale)
    target.write_bytes(bytes(data))
    return target


def srt(*cues: tuple[str, str, str]) -> str:
    return "".join(f"{n}\n{a} --> {b}\n{text}\n\n" for n, (a, b, text) in enumerate(cues, start=1))


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], set[str], set[str]]:
    folder = tmp_path_factory.mktemp("bad_media")
    good = factories.write_video(folder / "good.mp4", seconds=3.0)
    factories.write_video(folder / "good_mkv.mkv", seconds=2.0)
    factories.write_video(folder / "subtitled.mp4", seconds=3.0)
    (folder / "subtitled.srt").write_text(srt(("00:00:00,000", "00:00:02,000", "a chef flips a pancake")))
    # a large frame (4000 x 4000, one frame): decoded and scaled down like any other
    factories.write_video(folder / "huge_frame.mp4", seconds=1.0, fps=1.0, width=4000, height=4000)
    patch_timescale(good, folder / "zero_rate.mp4", 0)  # ffmpeg falls back to a rate of 1: still decodable

    # good videos with bad sidecars: indexed, with a warning
    for name in ("bad_utf8", "backwards", "long_line", "unparsable"):
        factories.write_video(folder / f"{name}.mp4", seconds=2.0)
    (folder / "bad_utf8.srt").write_bytes(b"1\n00:00:00,000 --> 00:00:01,000\nna\xefve \xff\xfe caf\xe9\n\n")
    (folder / "backwards.srt").write_text(srt(("00:00:01,500", "00:00:00,500", "time runs backwards")))
    (folder / "long_line.srt").write_text(srt(("00:00:00,000", "00:00:01,500", "word " * 210_000)))
    (folder / "unparsable.srt").write_text("this is not\na subtitle file\n\x00\x01\n")

    bad = {
        factories.write_zero_byte(folder / "zero.mp4"),
        factories.write_text_as_video(folder / "text.mp4"),
        factories.write_garbage_mp4(folder / "garbage.mp4"),
        factories.write_truncated(folder / "truncated.mp4", good, keep=0.3),
        factories.write_empty_video(folder / "no_frames.mp4"),
        factories.write_audio_only(folder / "audio_only.mp4"),
    }
    root = tmp_path_factory.mktemp("root")
    report = index(root, [str(folder)], MODEL, IndexOptions(workers=1))
    good_ids = {"good", "good_mkv", "subtitled", "huge_frame", "zero_rate"}
    good_ids |= {"bad_utf8", "backwards", "long_line", "unparsable"}
    return root, report, good_ids, {p.stem for p in bad}


def test_every_bad_file_is_reported_with_its_reason(
    batch: tuple[Path, dict[str, Any], set[str], set[str]],
) -> None:
    _, report, _, bad = batch
    failed = {entry["video_id"]: entry["reason"] for entry in report["failed"]}
    assert set(failed) == bad, failed
    for video_id, reason in failed.items():
        assert f"{video_id}.mp4" in reason, reason  # the reason names the file
        assert "Traceback" not in reason and len(reason) < 500
    assert report["counts"]["failed"] == len(bad)


def test_every_good_file_is_indexed(batch: tuple[Path, dict[str, Any], set[str], set[str]]) -> None:
    root, report, good, _ = batch
    assert {entry["video_id"] for entry in report["indexed"]} == good
    with open_snapshot(root) as snapshot:
        assert set(snapshot.video_ids) == good
        for video_id in good:
            row = snapshot.video(video_id)
            assert row.n_clips >= 1 and row.duration > 0


def test_bad_subtitles_are_warnings_not_failures(
    batch: tuple[Path, dict[str, Any], set[str], set[str]],
) -> None:
    _, report, _, _ = batch
    warnings = {entry["video_id"]: entry["warning"] for entry in report["warnings"]}
    assert set(warnings) == {"bad_utf8", "backwards", "unparsable"}, warnings
    assert "UTF-8" in warnings["bad_utf8"] and "bad_utf8.srt" in warnings["bad_utf8"]
    assert "ends before it starts" in warnings["backwards"]
    assert "indexed without subtitles" in warnings["unparsable"]
    assert report["counts"]["warnings"] == 3
