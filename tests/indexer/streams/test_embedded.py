"""Embedded subtitle tracks on real files muxed by PyAV: every text codec, language choice, bad tracks."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.decode_pool import DecodePool, DecodeSettings
from indexer.sources import resolve_sources
from indexer.streams import parse_languages
from indexer.streams.embedded import (
    SubtitleTrack,
    choose_track,
    read_track,
    subtitle_source,
    subtitle_tracks,
)
from indexer.subtitles import Cue, SubtitleError, find_sidecar
from tests import factories

CUES = [(0.5, 1.5, "Hello {\\i1}world{\\i0}"), (2.0, 3.0, "Second\\Nline")]
EXPECTED = [Cue(0.5, 1.5, "Hello world"), Cue(2.0, 3.0, "Second line")]


@pytest.mark.parametrize(
    ("name", "codec", "read_as"),
    [
        ("movtext.mp4", "mov_text", "mov_text"),
        ("subrip.mkv", "subrip", "srt"),
        ("ass.mkv", "ass", "ssa"),
        ("webvtt.mkv", "webvtt", "webvtt"),
        ("webvtt.webm", "webvtt", "webvtt"),
    ],
)
def test_each_text_codec_reads_as_the_sidecar_cues(
    tmp_path: Path, name: str, codec: str, read_as: str
) -> None:
    video = factories.write_subtitled_video(
        tmp_path / name, [(codec, "eng", CUES), (codec, "fre", [(1, 2, "Bonjour")])]
    )
    tracks = subtitle_tracks(video)
    assert tracks == [SubtitleTrack(1, "eng", read_as), SubtitleTrack(2, "fre", read_as)]
    assert read_track(video, tracks[0]) == EXPECTED
    assert read_track(video, tracks[1]) == [Cue(1.0, 2.0, "Bonjour")]


def test_the_users_languages_in_order_then_the_first_track() -> None:
    tracks = [SubtitleTrack(1, None, "srt"), SubtitleTrack(2, "ger", "srt"), SubtitleTrack(3, "fra", "srt")]
    assert choose_track(tracks, parse_languages("fr,de")) == tracks[2]  # "fr" matches "fra"
    assert choose_track(tracks, parse_languages("de,fr")) == tracks[1]  # "de" matches "ger"
    assert choose_track(tracks, parse_languages("en")) == tracks[0]  # no English track: the first
    assert choose_track(tracks, ()) == tracks[0]
    assert choose_track([], parse_languages("en")) is None


def test_a_sidecar_wins_over_an_embedded_track(tmp_path: Path) -> None:
    video = factories.write_subtitled_video(tmp_path / "both.mkv", [("subrip", "eng", CUES)])
    sidecar = tmp_path / "both.srt"
    sidecar.write_text("1\n00:00:00,000 --> 00:00:01,000\nfrom the sidecar\n")
    assert subtitle_source(video, sidecar, ()) == sidecar
    assert subtitle_source(video, None, ()) == SubtitleTrack(1, "eng", "srt")
    plain = factories.write_video(tmp_path / "plain.mp4")
    assert subtitle_source(plain, None, ()) is None
    assert subtitle_source(factories.write_zero_byte(tmp_path / "zero.mkv"), None, ()) is None


def test_the_decode_workers_give_clips_the_tracks_text(tmp_path: Path) -> None:
    video = factories.write_subtitled_video(tmp_path / "v.mkv", [("ass", "fre", CUES)])
    with DecodePool(1, DecodeSettings(fps=2.0, clip_seconds=1.5, size=(32, 24))) as pool:
        pool.submit(0, video, subtitle_tracks(video)[0])
        clips = []
        while pool.busy:
            clips += [clip for event in pool.poll() for clip in event.clips]
    assert [clip.text for clip in clips] == ["Hello world", "Second line", ""]


def test_tagged_sidecars_follow_the_same_languages(tmp_path: Path) -> None:
    video = factories.write_subtitled_video(tmp_path / "talk.mkv", [("subrip", "fre", CUES)])
    for name in ("talk.de.vtt", "talk.en.srt", "talk.fr.vtt"):
        (tmp_path / name).write_text(
            "WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n" if name.endswith("vtt") else ""
        )
    assert find_sidecar(video, parse_languages("fr,de")) == tmp_path / "talk.fr.vtt"
    assert find_sidecar(video, parse_languages("de")) == tmp_path / "talk.de.vtt"
    assert find_sidecar(video, parse_languages("es")) == tmp_path / "talk.en.srt"  # none: English, as before
    [item] = resolve_sources([str(tmp_path)], parse_languages("fr")).items
    assert item.subtitles == tmp_path / "talk.fr.vtt"
    assert subtitle_source(video, item.subtitles, ()) == item.subtitles  # and it wins over the French track


def test_undecodable_text_names_the_file_the_track_and_the_cue(tmp_path: Path) -> None:
    video = factories.write_subtitled_video(
        tmp_path / "bad.mkv", [("subrip", "eng", [(0.0, 1.0, "fine"), (1.0, 2.0, b"caf\xe9 \xff\xfe")])]
    )
    with pytest.raises(SubtitleError) as error:
        read_track(video, subtitle_tracks(video)[0])
    message = str(error.value)
    assert str(video) in message and "subtitle track 1 (eng, srt)" in message
    assert "cue 2 at 1.000 s is not valid UTF-8 text" in message


def test_a_cue_without_duration_is_a_broken_timestamp(tmp_path: Path) -> None:
    video = factories.write_subtitled_video(
        tmp_path / "nodur.mkv", [("subrip", None, [(1.0, 1.0, "forever")])]
    )
    with pytest.raises(
        SubtitleError,
        match=r"nodur\.mkv: subtitle track 1 \(no language tag, srt\): cue 1 at "
        r"1\.000 s has no duration \(a broken timestamp\)",
    ):
        read_track(video, subtitle_tracks(video)[0])
