"""indexer.subtitles: sidecar lookup, SRT/WebVTT parsing, clip text assignment."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.media import MediaError, MediaNotFoundError, SubtitleError
from indexer.subtitles import Cue, Sidecars, clip_texts, find_sidecar, find_sidecars, read_subtitles

pytestmark = pytest.mark.timeout(60)

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Hello</i> there,
<b>friend</b>

2
00:00:02,000 --> 00:00:04,000
{\\an8}Overlapping &amp; on top

3
00:00:05,000 --> 00:00:06,000

4
00:00:00,500 --> 00:00:01,000
<font color="#ff0000">First</font>
"""

VTT = """WEBVTT

intro
00:00.500 --> 00:01.500 align:start
<v Roger>Hi</v> <c.yellow>you</c>

00:00:01.000 --> 00:00:03.000
second
line

00:00:03.000 --> 00:00:03.500
<i> </i>
"""


def write(path: Path, text: str, *, encoding: str = "utf-8", bom: bytes = b"", crlf: bool = False) -> Path:
    """Write a subtitle file with the given encoding, byte-order mark and line endings."""
    body = text.replace("\n", "\r\n") if crlf else text
    path.write_bytes(bom + body.encode(encoding))
    return path


def test_srt_parsed_sorted_clean_and_empty_cues_dropped(tmp_path: Path) -> None:
    assert read_subtitles(write(tmp_path / "a.srt", SRT)) == [
        Cue(0.5, 1.0, "First"),
        Cue(1.0, 2.5, "Hello there, friend"),
        Cue(2.0, 4.0, "Overlapping & on top"),
    ]


@pytest.mark.parametrize(
    ("bom", "encoding", "crlf"),
    [(codecs.BOM_UTF8, "utf-8", False), (b"", "utf-8", True), (codecs.BOM_UTF8, "utf-8", True)],
    ids=["bom", "crlf", "bom+crlf"],
)
def test_srt_bom_and_crlf(tmp_path: Path, bom: bytes, encoding: str, crlf: bool) -> None:
    path = write(tmp_path / "a.srt", SRT, encoding=encoding, bom=bom, crlf=crlf)
    assert [c.text for c in read_subtitles(path)] == ["First", "Hello there, friend", "Overlapping & on top"]


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "a.srt", SRT, encoding="utf-16-le", bom=codecs.BOM_UTF16_LE)
    assert len(read_subtitles(path)) == 3


def test_vtt_parsed_with_markup_stripped(tmp_path: Path) -> None:
    for crlf in (False, True):
        path = write(tmp_path / "a.vtt", VTT, bom=codecs.BOM_UTF8, crlf=crlf)
        assert read_subtitles(path) == [Cue(0.5, 1.5, "Hi you"), Cue(1.0, 3.0, "second line")]


def test_wrong_encoding_is_a_subtitle_error(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.srt", SRT.replace("Hello", "Héllo"), encoding="latin-1")
    with pytest.raises(SubtitleError, match=r"latin\.srt.*UTF-8"):
        read_subtitles(path)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("backwards.srt", "1\n00:00:03,000 --> 00:00:01,000\nhi\n", r"cue 1 ends before it starts"),
        ("typo.srt", "1\n00:00:01,000 --> 00:00:0x,000\nhi\n", r"cue 1 ends before it starts"),
        ("junk.srt", "this is not\nan srt file\n", r"unparsable"),
        ("badtime.vtt", "WEBVTT\n\n00:01.000 --> 00:0x.000\nhi\n", r"malformed WebVTT.*00:0x"),
        ("backwards.vtt", "WEBVTT\n\n00:05.000 --> 00:01.000\nhi\n", r"cue 1 \(00:00:05.000\) ends before"),
        ("noheader.vtt", "00:01.000 --> 00:02.000\nhi\n", r"malformed WebVTT"),
    ],
)
def test_broken_timestamps_are_subtitle_errors_naming_file_and_cue(
    tmp_path: Path, name: str, text: str, match: str
) -> None:
    with pytest.raises(SubtitleError, match=match) as caught:
        read_subtitles(write(tmp_path / name, text))
    assert name in str(caught.value)


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError, match="gone.srt"):
        read_subtitles(tmp_path / "gone.srt")
    with pytest.raises(SubtitleError, match="unsupported"):
        read_subtitles(write(tmp_path / "a.ass", "[Script Info]\n"))
    assert issubclass(SubtitleError, MediaError)


def test_find_sidecar_order(tmp_path: Path) -> None:
    video = tmp_path / "show.ep1.mp4"
    assert find_sidecar(video) is None
    write(tmp_path / "show.ep1.fr.vtt", VTT)
    assert find_sidecar(video) == tmp_path / "show.ep1.fr.vtt"
    write(tmp_path / "show.ep1.de.srt", SRT)
    write(tmp_path / "show.ep1.en.srt", SRT)
    assert find_sidecar(video) == tmp_path / "show.ep1.en.srt"
    write(tmp_path / "show.ep1.vtt", VTT)
    assert find_sidecar(video) == tmp_path / "show.ep1.vtt"
    write(tmp_path / "show.ep1.srt", SRT)
    assert find_sidecar(str(video)) == tmp_path / "show.ep1.srt"


def test_find_sidecar_ignores_other_videos_and_odd_names(tmp_path: Path) -> None:
    write(tmp_path / "show.ep10.srt", SRT)
    write(tmp_path / "show.x.y.srt", SRT)
    assert find_sidecar(tmp_path / "show.mp4") is None
    assert find_sidecar(tmp_path / "[a]*.mp4") is None


def test_one_folder_listing_finds_what_find_sidecar_finds(tmp_path: Path) -> None:
    names = ["a.srt", "b.en.vtt", "b.fr.srt", "c.pt-BR.vtt", "c.de.vtt", "d.x.y.srt", "e.vtt", "e.srt"]
    names += ["f.ep10.srt", "g.EN.srt", "g.es.srt", "[h]*.srt"]
    for name in names:
        write(tmp_path / name, SRT)
    (tmp_path / "i.srt").mkdir()  # a folder is not a subtitle file
    sidecars = Sidecars(tmp_path)
    for stem in ["a", "b", "c", "d", "d.x", "e", "f", "g", "[h]*", "i", "none"]:
        video = tmp_path / f"{stem}.mp4"
        assert sidecars.find(video) == find_sidecar(video), stem
    videos = [tmp_path / f"{stem}.mp4" for stem in ["a", "b", "c", "d", "e", "g", "none"]]
    assert find_sidecars(videos) == [find_sidecar(video) for video in videos]
    assert sidecars.find(tmp_path / "g.mp4") == tmp_path / "g.EN.srt"
    assert Sidecars(tmp_path / "missing").find(tmp_path / "missing" / "a.mp4") is None


def test_clip_texts_strict_overlap_in_order_deduplicated() -> None:
    cues = [
        Cue(0.0, 1.5, "a"),
        Cue(1.5, 1.6, "b"),
        Cue(1.0, 4.0, "c"),
        Cue(2.0, 2.5, "a"),
        Cue(3.0, 3.0, "zero"),
        Cue(9.0, 12.0, "late"),
    ]
    assert clip_texts(cues, 3, 1.5) == ["a c", "b c a", "c"]
    assert clip_texts([], 2) == ["", ""]
    assert clip_texts([Cue(0.0, 100.0, "long")], 4, 1.0) == ["long"] * 4


cue_lists = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 12), st.sampled_from("abc")).map(
        lambda c: Cue(c[0] / 4, (c[0] + c[1]) / 4, c[2])
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(cues=cue_lists, n_clips=st.integers(1, 8), clip_seconds=st.sampled_from([0.5, 1.0, 1.5, 2.0]))
def test_clip_texts_matches_brute_force(cues: list[Cue], n_clips: int, clip_seconds: float) -> None:
    expected = []
    for i in range(n_clips):
        lo, hi = i * clip_seconds, (i + 1) * clip_seconds
        hits = [c.text for c in cues if min(c.end, hi) - max(c.start, lo) > 0]
        expected.append(" ".join(dict.fromkeys(hits)))
    assert clip_texts(cues, n_clips, clip_seconds) == expected
