"""Speech lines from a tiny random Whisper loaded by the real transformers code, over real audio written with
PyAV: random weights hear nonsense, so these tests check the plumbing (times, windows, memory, errors)."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from indexer.streams.asr import (
    WINDOW,
    AudioWindows,
    SpeechScan,
    Transcriber,
    read_audio,
    speech_settings,
    split_segments,
    whisper_digest,
)
from models.config import ModelError
from tests import factories

STAMP = 1000  # the first timestamp token in `split_segments` cases: STAMP + k is k * 0.02 s


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> Transcriber:
    folder = factories.tiny_whisper_dir(tmp_path_factory.mktemp("asr"))
    return Transcriber(speech_settings(str(folder)))


@pytest.mark.parametrize(
    ("tokens", "segments", "used"),
    [
        # two closed segments then the end: the whole window is used
        ([STAMP, 5, 6, STAMP + 50, STAMP + 50, 7, STAMP + 100], [(0.0, 1.0, [5, 6]), (1.0, 2.0, [7])], 30.0),
        # the last segment is cut off by the window's end: the next window starts where the last closed ends
        (
            [STAMP, 5, STAMP + 50, STAMP + 50, 7, STAMP + 100, STAMP + 100, 8],
            [(0.0, 1.0, [5]), (1.0, 2.0, [7])],
            2.0,
        ),
        # no segment boundary: one segment up to the last timestamp, the whole window used
        ([STAMP + 10, 5, 6], [(0.0, 0.2, [5, 6])], 30.0),
        ([5, 6], [(0.0, 30.0, [5, 6])], 30.0),
    ],
)
def test_a_windows_tokens_split_into_segments_as_whisper_reads_them(
    tokens: list[int], segments: list[tuple[float, float, list[int]]], used: float
) -> None:
    assert split_segments(tokens, STAMP, 30.0) == (segments, used)


def test_lines_of_a_long_video_are_ordered_inside_its_audio_and_every_window_is_heard(
    whisper: Transcriber, tmp_path: Path
) -> None:
    video = factories.write_video_with_audio(tmp_path / "talk.mp4", seconds=180.0)
    scan = SpeechScan(video, whisper)
    done = list(scan)
    assert len(done) >= 6 and done == sorted(done)  # at least 6 windows of at most 30 s
    assert done[-1] == pytest.approx(180.0, abs=0.1)  # AAC pads the end by under one 1024-sample frame
    cues = scan.cues()
    assert cues and {cue.stream for cue in cues} == {"speech"}
    assert not any("<|" in cue.text for cue in cues)  # no prompt, language or timestamp token as text
    assert all(0.0 <= cue.start <= cue.end <= done[-1] for cue in cues)
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False)), cues
    assert max(cue.end for cue in cues) > 150.0  # the last windows were heard too


def test_a_window_costs_one_encoder_pass(whisper: Transcriber) -> None:
    calls: list[int] = []
    hook = whisper.model.get_encoder().register_forward_hook(lambda *_: calls.append(1))
    try:
        whisper.segments(np.zeros(WINDOW, np.float32))  # the language is detected from the same encoding
    finally:
        hook.remove()
    assert calls == [1]


def test_a_video_without_audio_has_no_speech_lines(whisper: Transcriber, tmp_path: Path) -> None:
    scan = SpeechScan(factories.write_video(tmp_path / "silent.mp4"), whisper)
    assert list(scan) == [] and scan.cues() == []


def test_two_hours_of_audio_are_read_in_bounded_memory(tmp_path: Path) -> None:
    audio = factories.write_audio_only(
        tmp_path / "long.wav", seconds=7200.0, codec="adpcm_ima_wav", rate=8000
    )
    page = os.sysconf("SC_PAGE_SIZE")
    rss = Path("/proc/self/statm")
    before = int(rss.read_text().split()[1]) * page
    tracemalloc.start()
    try:
        windows, count, grown = AudioWindows(read_audio(audio)), 0, 0
        while (window := windows.next()) is not None:
            count += 1
            windows.advance(len(window) / 16000)
            grown = max(grown, int(rss.read_text().split()[1]) * page - before)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 241 and windows.start == pytest.approx(7200.0, abs=1.0)
    assert peak < 16e6, peak  # 2 hours at 16 kHz are 460 MB of float32; one 30 s window is 1.9 MB
    assert grown < 64e6, grown


def test_the_weights_identity_is_the_digest_of_the_files_loading_reads(tmp_path: Path) -> None:
    one, same, other = (
        factories.tiny_whisper_dir(tmp_path / name, seed=s)
        for name, s in [("one", 0), ("same", 0), ("other", 1)]
    )
    assert whisper_digest(one) == whisper_digest(same) != whisper_digest(other)
    (one / "README.md").write_text("notes")  # not read by the loader
    assert speech_settings(str(one)).digest == whisper_digest(same)


def test_a_hub_id_offline_is_one_clear_error(offline_hub: Path) -> None:
    with pytest.raises(ModelError, match="'openai/whisper-tiny'.*hf download openai/whisper-tiny") as error:
        speech_settings("openai/whisper-tiny")
    assert "--asr whisper:DIR" in str(error.value) and error.value.__cause__ is None


def test_a_folder_without_a_whisper_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"{tmp_path} has no config.json"):
        speech_settings(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "clip"}')
    with pytest.raises(ModelError, match=f"{tmp_path} holds a 'clip' model, not a Whisper"):
        speech_settings(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "whisper"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"a pickle")
    with pytest.raises(ModelError, match=f"{tmp_path} has no model.safetensors"):
        speech_settings(str(tmp_path))
