"""A tiny synthetic corpus → training tensors: clips, spans, subtitle pseudo-queries, cache, bad files."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import indexer.dataset as dataset
from indexer.annotations import read_annotations
from indexer.dataset import FeatureSource, build_dataset, clip_span, shorter_phrasings
from indexer.subtitles import read_subtitles
from indexer.synth import SynthConfig, generate_corpus
from models.model import KairosModel
from models.registry import create_model
from tests.factories import write_garbage_mp4

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(
        out, SynthConfig(videos=5, seed=3, width=128, height=96, min_duration=10, max_duration=12)
    )
    return out


@pytest.fixture(scope="module")
def model() -> KairosModel:
    torch.manual_seed(0)
    return create_model("kairos-tiny")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0.0, 1.5, (0, 0)),
        (0.7, 2.9, (0, 1)),
        (1.5, 3.0, (1, 1)),
        (1.6, 3.1, (1, 2)),
        (4.0, 4.0, (2, 2)),  # empty span: one clip
        (10.0, 99.0, (6, 7)),  # clamped to the last clip
    ],
)
def test_clip_span(start: float, end: float, expected: tuple[int, int]) -> None:
    assert clip_span(start, end, 1.5, 8) == expected


def test_corpus_becomes_tensors_and_the_cache_is_reused(
    corpus: Path, model: KairosModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    annotations = corpus / "annotations" / "train.jsonl"
    rows = read_annotations(annotations)
    data = build_dataset(corpus, annotations, model, cache_dir=tmp_path)

    names = sorted({row.video for row in rows})
    assert [v.name for v in data.videos] == names
    for video in data.videos:
        assert video.n_clips == math.ceil(video.duration / 1.5)
        assert video.frames.shape == (video.n_clips, 3, 96, 128, 3) and video.frames.dtype == torch.uint8
        assert video.frame_mask.shape == (video.n_clips, 3) and bool(video.frame_mask[:, 0].all())
        # subtitle tokens are cut to the video's longest clip text (at most max_sub_tokens = 16)
        width = int(video.sub_mask.sum(dim=1).max())
        assert width <= 16 and video.sub_tokens.shape == (video.n_clips, width, 384)
        assert video.sub_mask.shape == (video.n_clips, width)
        cues = read_subtitles(corpus / "videos" / f"{video.name}.srt")
        assert bool(video.sub_mask.any()) == bool(cues)

    q = data.queries
    assert len(q) == len(rows) and q.kind == [row.kind for row in rows]
    assert q.text.tokens.shape[:2] == q.text.mask.shape and q.text.pooled.shape == (len(rows), 384)
    for i, row in enumerate(rows):
        video = data.videos[int(q.video[i])]
        assert video.name == row.video
        assert tuple(q.span[i].tolist()) == clip_span(*row.moment, 1.5, video.n_clips)
        assert q.seconds[i].tolist() == pytest.approx(row.moment)

    lines = [
        (v, cue)
        for v, video in enumerate(data.videos)
        for cue in read_subtitles(corpus / "videos" / f"{video.name}.srt")
    ]
    assert len(data.pseudo) == len(lines) and set(data.pseudo.kind) <= {"sub"}
    for i, (v, cue) in enumerate(lines):
        assert int(data.pseudo.video[i]) == v
        assert tuple(data.pseudo.span[i].tolist()) == clip_span(
            cue.start, cue.end, 1.5, data.videos[v].n_clips
        )

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again although the frames are cached")

    monkeypatch.setattr(dataset, "iter_clips", no_decoding)
    monkeypatch.setattr(dataset.VideoEncoder, "text_tokens", no_decoding)
    monkeypatch.setattr(type(model), "text_encoder", property(no_decoding))
    again = build_dataset(corpus, annotations, model, cache_dir=tmp_path)
    for first, second in zip(data.videos, again.videos, strict=True):
        assert torch.equal(first.frames, second.frames) and torch.equal(first.sub_tokens, second.sub_tokens)
    assert torch.equal(data.queries.text.tokens, again.queries.text.tokens)
    assert len(list((tmp_path / "frames").glob("*.npz"))) == len(names)


def test_shorter_phrasings_cut_one_run_of_words_and_repeat() -> None:
    text = "a large green hexagon bounces over a grid"
    words = text.split()
    variants = shorter_phrasings(text, 3)
    assert len(variants) == 3 and len(set(variants)) == 3 and variants == shorter_phrasings(text, 3)
    for variant in variants:
        kept = variant.split()
        cut = len(words) - len(kept)
        assert 1 <= cut <= 2 and any(words[:i] + words[i + cut :] == kept for i in range(len(words)))
    assert shorter_phrasings("a shape", 3) == [] and shorter_phrasings(text, 0) == []


def test_query_variants_keep_their_source_moment(corpus: Path, model: KairosModel, tmp_path: Path) -> None:
    annotations = corpus / "annotations" / "train.jsonl"
    data = build_dataset(corpus, annotations, model, cache_dir=tmp_path, query_variants=2)
    assert data.variants is not None and data.variant_of is not None
    assert len(data.variants) == len(data.variant_of) > len(data.queries)
    rows = read_annotations(annotations)
    for i, source in enumerate(data.variant_of.tolist()):
        assert int(data.variants.video[i]) == int(data.queries.video[source])
        assert torch.equal(data.variants.span[i], data.queries.span[source])
        assert data.variants.kind[i] == data.queries.kind[source]
    texts = [shorter_phrasings(row.text, 2) for row in rows]
    assert len(data.variants) == sum(len(t) for t in texts)
    assert build_dataset(corpus, annotations, model, cache_dir=tmp_path).variants is None


def test_unreadable_video_is_skipped_with_its_queries(
    corpus: Path, model: KairosModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    rows = read_annotations(copy / "annotations" / "train.jsonl")
    broken, mute = sorted({row.video for row in rows})[:2]
    write_garbage_mp4(copy / "videos" / f"{broken}.mp4")
    (copy / "videos" / f"{mute}.srt").write_text("1\n00:00:01,000 --> garbage\nhello\n")
    missing = {
        "vid_name": "synth_99999",
        "duration": 9.0,
        "ts": [1, 2],
        "desc": "nothing",
        "type": "v",
        "desc_id": -1,
    }
    with (copy / "annotations" / "train.jsonl").open("a") as handle:
        handle.write(json.dumps(missing) + "\n")

    with caplog.at_level(logging.WARNING, logger="indexer.dataset"):
        data = build_dataset(copy, copy / "annotations" / "train.jsonl", model, cache_dir=tmp_path / "cache")
    assert broken not in [v.name for v in data.videos]
    assert len(data.queries) == sum(row.video != broken for row in rows)
    assert f"skipping video {broken}" in caplog.text and "skipping video synth_99999" in caplog.text
    assert f"video {mute}: subtitles ignored" in caplog.text
    kept = next(v for v in data.videos if v.name == mute)
    assert not bool(kept.sub_mask.any()) and not bool((data.pseudo.video == data.videos.index(kept)).any())
    val = build_dataset(
        copy, copy / "annotations" / "val.jsonl", model, tmp_path / "cache", pseudo_queries=False
    )
    assert len(val.pseudo) == 0 and val.pseudo.text.tokens.shape == (0, 0, 384)


def test_a_features_folder_becomes_tensors(
    model: KairosModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Arrays at 4 fps read at the model's 2 fps; subtitles where a file has them; QVHighlights queries."""
    folder = tmp_path / "features"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.save(folder / "talk.npy", rng.normal(size=(40, 32)).astype(np.float32))  # 10 s
    np.savez(folder / "walk.npz", features=rng.normal(size=(26, 32)))  # 6.5 s
    (folder / "talk.srt").write_text("1\n00:00:01,000 --> 00:00:04,000\na person talks\n")
    rows = [
        {"qid": 1, "query": "a person talks", "vid": "talk", "duration": 10, "relevant_windows": [[1, 4]]},
        {"qid": 2, "query": "someone walks", "vid": "walk", "duration": 30, "relevant_windows": [[3, 6]]},
        {"qid": 3, "query": "nobody", "vid": "absent", "duration": 5, "relevant_windows": [[0, 1]]},
    ]
    annotations = tmp_path / "qvh.jsonl"
    annotations.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with caplog.at_level(logging.WARNING, logger="indexer.dataset"):
        data = build_dataset(FeatureSource(folder, 4.0), annotations, model, cache_dir=tmp_path / "cache")
    talk, walk = data.videos
    assert (talk.name, talk.duration, walk.name, walk.duration) == ("talk", 10.0, "walk", 6.5)
    assert talk.frames.shape == (7, 3, 32) and talk.frames.dtype == torch.float32
    assert walk.frames.shape == (5, 3, 32) and not bool(walk.sub_mask.any())
    assert data.queries.span.tolist() == [[0, 2], [2, 3]] and len(data.pseudo) == 1
    assert "skipping video absent: no feature file" in caplog.text
    assert "1 videos last other than annotated, e.g. walk: 6.5 s, annotated 30.0 s" in caplog.text
