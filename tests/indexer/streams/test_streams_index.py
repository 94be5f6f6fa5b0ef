"""`kairos index` with text streams: embedded tracks chosen by language, bad tracks reported while the batch
carries on, and the stream choice in each video's content hash (real files, kairos-tiny, real snapshots)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from commands.cli import app
from indexer.pipeline import IndexOptions, index
from indexer.snapshot import open_snapshot
from indexer.sources import content_hash
from indexer.streams import StreamSettings
from tests import factories

MODEL = "kairos-tiny"
CUES = [(0.5, 1.5, "a chef flips a pancake")]


def hashes(root: Path) -> dict[str, str]:
    with open_snapshot(root) as snapshot:
        return {row.video_id: row.content_hash for row in snapshot.videos()}


def test_tracks_by_language_bad_tracks_warned_and_the_choice_hashed(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    two = factories.write_subtitled_video(folder / "two.mkv", [("subrip", "eng", CUES), ("ass", "fre", CUES)])
    side = factories.write_subtitled_video(folder / "side.mp4", [("mov_text", "fre", CUES)])
    sidecar = folder / "side.srt"
    sidecar.write_text("1\n00:00:00,000 --> 00:00:01,000\nthe sidecar wins\n")
    plain = factories.write_video(folder / "plain.mp4", seconds=3.0)
    factories.write_subtitled_video(folder / "bad_text.mkv", [("subrip", "fre", [(0.0, 1.0, b"\xff\xfe")])])
    factories.write_subtitled_video(folder / "no_end.webm", [("webvtt", "eng", [(1.0, 1.0, "stuck")])])
    factories.write_zero_byte(folder / "zero.mkv")
    root = tmp_path / "root"

    french = IndexOptions(streams=StreamSettings(languages=("fra",)))
    report = index(root, [str(folder)], MODEL, french)
    assert {e["video_id"] for e in report["indexed"]} == {"two", "side", "plain", "bad_text", "no_end"}
    assert [(e["video_id"], "zero.mkv" in e["reason"]) for e in report["failed"]] == [("zero", True)]
    warnings = {e["video_id"]: e["warning"] for e in report["warnings"]}
    assert set(warnings) == {"bad_text", "no_end"}
    assert (
        "bad_text.mkv: subtitle track 1 (fre, srt): cue 1 at 0.000 s is not valid UTF-8"
        in warnings["bad_text"]
    )
    assert (
        "no_end.webm: subtitle track 1 (eng, webvtt): cue 1 at 1.000 s has no duration" in warnings["no_end"]
    )
    assert all(w.endswith("the video is indexed without subtitles") for w in warnings.values())
    first = hashes(root)
    assert first["two"] == content_hash(two, None, salt="track=2:fre:ssa")
    assert first["side"] == content_hash(side, sidecar)  # the sidecar wins; default streams add nothing
    assert first["plain"] == content_hash(plain)

    english = index(root, [str(folder)], MODEL, IndexOptions(streams=StreamSettings(languages=("eng",))))
    assert [e["video_id"] for e in english["indexed"]] == ["two"]  # only its chosen track changed
    assert hashes(root)["two"] == content_hash(two, None, salt="track=1:eng:srt")

    off = index(root, [str(folder)], MODEL, IndexOptions(streams=StreamSettings(streams=())))
    assert {e["video_id"] for e in off["indexed"]} == {"two", "side", "plain", "bad_text", "no_end"}
    assert off["warnings"] == [] and hashes(root)["side"] == content_hash(side, salt="subtitles=off")


def test_the_index_command_refuses_unknown_streams_and_languages(tmp_path: Path) -> None:
    video = factories.write_video(tmp_path / "v.mp4")
    runner = CliRunner()
    for option, value, message in [
        ("--streams", "subtitles,speech", "unknown stream 'speech': choose from subtitles, ocr, asr"),
        ("--subtitle-languages", "en,xx", "unknown language 'xx'"),
    ]:
        result = runner.invoke(app, ["index", str(video), "--out", str(tmp_path / "root"), option, value])
        assert result.exit_code == 1 and message in result.output, result.output


def test_a_batch_reading_on_screen_text_reports_bad_files_and_carries_on(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    slides = factories.write_text_video(folder / "slides.mp4", [(1.0, 3.0, ["Pelican budget"])], seconds=4.0)
    factories.write_zero_byte(folder / "zero.mp4")
    factories.write_truncated(folder / "cut.mp4", slides, keep=0.3)
    factories.write_text_as_video(folder / "notes.mp4")
    report = index(
        tmp_path / "root", [str(folder)], MODEL, IndexOptions(streams=StreamSettings(("subtitles", "ocr")))
    )
    assert [e["video_id"] for e in report["indexed"]] == ["slides"]
    failed = {e["video_id"]: e["reason"] for e in report["failed"]}
    assert set(failed) == {"zero", "cut", "notes"}
    assert all(f"{video_id}.mp4" in reason for video_id, reason in failed.items()), failed
    assert report["counts"]["ocr_lines"] == 1 and report["timings"]["ocr"] > 0
