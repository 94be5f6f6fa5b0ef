"""Line retrieval in a real snapshot: line vectors stored, carried and searched (FAISS), BM25 over the words,
and snapshots without line vectors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from indexer.cues import OCR, SUBTITLES, Cue
from indexer.snapshot import SnapshotWriter, open_snapshot
from indexer.snapshot.manifest import LINE_VECTORS
from tests.indexer.test_snapshot import DIM, MODEL, _unit, build, make_videos

TEXT_DIM = 24
WORDS = [
    ("the weather stays mild in Antwerp", SUBTITLES),
    ("prices of bread went up again", SUBTITLES),
    ("the ferry to Zanzibar leaves at dawn", OCR),
    ("the weather turns cold in Bilbao", SUBTITLES),
]


def with_lines(seed: int = 0) -> list:
    """Four videos, one line each (two on the last), with seeded unit line vectors."""
    rng = np.random.default_rng(seed)
    records = make_videos(4, seed=seed)
    texts = [*WORDS, ("prices of fish went down", OCR)]
    vectors = _unit(rng.normal(size=(len(texts), TEXT_DIM)))
    out = []
    for i, record in enumerate(records):
        rows = [i] if i < 3 else [3, 4]
        lines = [Cue(1.0 + j, 2.0 + j, texts[r][0], texts[r][1]) for j, r in enumerate(rows)]
        out.append(dataclasses.replace(record, lines=lines, line_vectors=vectors[rows]))
    return out


def test_line_vectors_are_stored_searched_and_carried(tmp_path: Path) -> None:
    records = with_lines()
    info = build(tmp_path / "a", records)
    assert info.manifest.line_index is not None and info.manifest.line_index.ntotal == 5
    assert info.manifest.arrays[LINE_VECTORS].shape == (5, TEXT_DIM)
    with open_snapshot(tmp_path / "a") as snap:
        assert snap.lines is not None and len(snap.lines) == 5
        for record in records:
            stored = snap.record(record.video_id)
            assert stored.lines == record.lines
            assert stored.line_vectors is not None
            np.testing.assert_allclose(stored.line_vectors, record.line_vectors, atol=1e-3)  # float16
        target = records[3].line_vectors[1]  # "prices of fish went down", the fourth video's second line
        best = snap.lines.search_vectors(target, 2, None)
        assert snap.line(int(best[0])) == (3, records[3].lines[1])
        with SnapshotWriter(tmp_path / "b", MODEL, DIM, 1.5) as writer:
            writer.carry(snap, [records[3].video_id, records[0].video_id])
            writer.publish()
    with open_snapshot(tmp_path / "b") as carried:
        assert carried.lines is not None and len(carried.lines) == 3
        best = carried.lines.search_vectors(target, 1, None)
        assert carried.line(int(best[0])) == (0, records[3].lines[1])  # the carried video is now idx 0


def test_bm25_finds_an_exact_rare_word_and_streams_filter(tmp_path: Path) -> None:
    build(tmp_path, with_lines())
    with open_snapshot(tmp_path) as snap:
        assert snap.lines is not None
        found = snap.lines.search_words("When does the Zanzibar boat go?", 10, None)
        assert [snap.line(int(i))[1].text for i in found] == ["the ferry to Zanzibar leaves at dawn"]
        weather = snap.lines.search_words("WEATHER", 10, None)
        assert {snap.line(int(i))[0] for i in weather} == {0, 3}
        assert len(snap.lines.search_words("the of at", 10, None)) == 0  # stopwords only: no line
        only_subtitles = snap.lines.allowed([SUBTITLES])
        assert len(snap.lines.search_words("zanzibar", 10, only_subtitles)) == 0
        ocr = snap.lines.search_vectors(np.ones(TEXT_DIM, dtype=np.float32), 10, snap.lines.allowed([OCR]))
        assert sorted(snap.line(int(i))[1].stream for i in ocr) == [OCR, OCR]
        assert len(snap.lines.search_words("zanzibar", 10, snap.lines.allowed(["speech"]))) == 0


def test_a_snapshot_without_line_vectors_opens_without_a_line_source(tmp_path: Path) -> None:
    records = [dataclasses.replace(r, line_vectors=None) if i == 1 else r for i, r in enumerate(with_lines())]
    info = build(tmp_path, records)  # one video without its vectors: none are kept
    assert info.manifest.line_index is None and LINE_VECTORS not in info.manifest.arrays
    assert not (info.path / LINE_VECTORS).exists()
    with open_snapshot(tmp_path) as snap:
        assert snap.lines is None
        assert snap.record(records[2].video_id).line_vectors is None
        assert snap.lines_at(2) == records[2].lines
        assert snap.top_videos(records[0].segments[:1], 2)[1][0][0] == 0


def test_lines_without_words_keep_their_vectors_and_have_no_bm25(tmp_path: Path) -> None:
    """Lines of punctuation or stopwords only (e.g. speech misheard as noise) leave bm25s no vocabulary."""
    records = [
        dataclasses.replace(r, lines=[Cue(1.0, 2.0, "?! ...", "speech") for _ in r.lines])
        for r in with_lines()
    ]
    build(tmp_path, records)
    with open_snapshot(tmp_path) as snap:
        assert snap.lines is not None and len(snap.lines) == 5
        assert len(snap.lines.search_words("zanzibar", 10, None)) == 0
        assert len(snap.lines.search_vectors(records[0].line_vectors[0], 1, None)) == 1
