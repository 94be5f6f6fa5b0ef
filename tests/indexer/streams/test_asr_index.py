"""`kairos index --streams subtitles,asr --asr whisper:DIR`: speech lines in the snapshot, bad files reported
while the batch carries on, the weights in each video's content hash, and the flag checks (real files, a
tiny random Whisper, kairos-tiny, real snapshots)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commands.cli import app
from indexer.pipeline import IndexOptions, index
from indexer.snapshot import open_snapshot
from indexer.sources import content_hash
from indexer.streams import StreamSettings
from indexer.streams.asr import speech_settings
from tests import factories

MODEL = "kairos-tiny"


def test_a_batch_hearing_speech_stores_its_lines_and_rehashes_when_the_weights_change(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    talk = factories.write_video_with_audio(folder / "talk.mp4", seconds=6.0)
    silent = factories.write_video(folder / "silent.mp4", seconds=3.0)
    factories.write_zero_byte(folder / "zero.mp4")
    factories.write_text_as_video(folder / "notes.mp4")
    factories.write_audio_only(folder / "voice.mp4", seconds=60.0)  # not a video: failed before it is heard
    first = speech_settings(str(factories.tiny_whisper_dir(tmp_path / "one", seed=0)))
    root = tmp_path / "root"

    report = index(
        root,
        [str(folder)],
        MODEL,
        IndexOptions(streams=StreamSettings(("subtitles", "asr"), (), asr_settings=first)),
    )
    assert [e["video_id"] for e in report["indexed"]] == ["silent", "talk"]
    failed = {e["video_id"]: e["reason"] for e in report["failed"]}
    assert set(failed) == {"zero", "notes", "voice"} and all(f"{v}.mp4" in r for v, r in failed.items()), (
        failed
    )
    assert "audio-only file" in failed["voice"]
    counts = report["counts"]
    assert counts["asr_seconds"] == pytest.approx(6.0, abs=0.1) and counts["asr_lines"] > 0
    assert report["timings"]["asr"] > 0
    with open_snapshot(root) as snapshot:
        lines = snapshot.lines_at(snapshot.index_of("talk"))
        assert snapshot.lines_at(snapshot.index_of("silent")) == []
        hashed = {row.video_id: row.content_hash for row in snapshot.videos()}
    assert len(lines) == counts["asr_lines"] and {line.stream for line in lines} == {"speech"}
    assert all(0.0 <= line.start <= line.end <= 6.1 for line in lines)
    assert hashed["talk"] == content_hash(talk, salt=f"asr={first.fingerprint()}")
    assert hashed["silent"] == content_hash(silent, salt=f"asr={first.fingerprint()}")

    other = speech_settings(str(factories.tiny_whisper_dir(tmp_path / "two", seed=1)))
    again = index(
        root,
        [str(folder)],
        MODEL,
        IndexOptions(streams=StreamSettings(("subtitles", "asr"), (), asr_settings=other)),
    )
    assert [e["video_id"] for e in again["indexed"]] == ["silent", "talk"]  # other weights: heard again
    same = index(
        root,
        [str(folder)],
        MODEL,
        IndexOptions(streams=StreamSettings(("subtitles", "asr"), (), asr_settings=other)),
    )
    assert same["indexed"] == [] and {e["video_id"] for e in same["reused"]} == {"silent", "talk"}


def test_the_index_command_checks_the_speech_flags(tmp_path: Path, offline_hub: Path) -> None:
    video = factories.write_video_with_audio(tmp_path / "v.mp4", seconds=2.0)
    runner = CliRunner()
    command = ["index", str(video), "--out", str(tmp_path / "root")]
    for options, message in [
        (["--streams", "subtitles,asr"], "the asr stream needs a speech model: --asr whisper:DIR"),
        (
            ["--asr", f"whisper:{tmp_path}"],
            f"--asr whisper:{tmp_path} is given but the asr stream is not read",
        ),
        (["--streams", "asr", "--asr", "vosk:x"], "unknown speech model 'vosk:x'"),
        (
            ["--streams", "asr", "--asr", f"whisper:{tmp_path}"],
            f"Whisper folder {tmp_path} has no config.json",
        ),
    ]:
        result = runner.invoke(app, command + options)
        assert result.exit_code == 1 and message in result.output, result.output
    result = runner.invoke(app, command + ["--streams", "asr", "--asr", "whisper:openai/whisper-tiny"])
    assert result.exit_code == 1, result.output
    assert (
        "'openai/whisper-tiny'" in result.output
        and "hf download openai/whisper-tiny --local-dir DIR" in result.output
    )

    whisper = factories.tiny_whisper_dir(tmp_path)
    result = runner.invoke(
        app,
        command + ["--model", MODEL, "--streams", "subtitles,asr", "--asr", f"whisper:{whisper}", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["counts"]["indexed"] == 1 and report["counts"]["asr_seconds"] == pytest.approx(2.0, abs=0.1)
