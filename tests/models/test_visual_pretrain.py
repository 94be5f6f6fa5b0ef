"""The visual warm-up: its loss falls, it only trains the backbone, it skips subtitle-only queries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models.data import TrainData
from models.registry import create_model, get_config
from models.train import Trainer
from models.visual_pretrain import (
    hard_captions,
    positives,
    pretrain_visual,
    related,
    text_neighbours,
    visual_queries,
)
from tests.models.test_train import quiet, tiny_data, tiny_model


def _one_colour_per_clip(data: TrainData) -> TrainData:
    """Every clip filled with its own flat colour, every query a one-clip moment: learnable pairs."""
    gen = torch.Generator().manual_seed(0)
    videos = []
    for video in data.videos:
        colours = torch.randint(0, 256, (video.n_clips, 1, 1, 1, 3), generator=gen, dtype=torch.uint8)
        videos.append(dataclasses.replace(video, frames=colours.expand_as(video.frames).contiguous()))
    span = data.queries.span[:, :1].repeat(1, 2)
    return dataclasses.replace(data, videos=videos, queries=dataclasses.replace(data.queries, span=span))


def test_warm_up_loss_falls() -> None:
    model, data = tiny_model(), _one_colour_per_clip(tiny_data(0, n_videos=4, per_video=6, frames=True))
    losses = pretrain_visual(model, data, epochs=25, batch=8, lr=3e-3)
    assert len(losses) == 25
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3


def test_warm_up_loss_falls_with_hard_captions() -> None:
    model, data = tiny_model(), _one_colour_per_clip(tiny_data(0, n_videos=4, per_video=6, frames=True))
    losses = pretrain_visual(model, data, epochs=25, batch=8, lr=3e-3, hard_texts=2)
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3


def test_text_neighbours_are_other_videos_queries_by_cosine() -> None:
    queries = tiny_data(3, n_videos=3, per_video=4).queries
    near = text_neighbours(queries, 3)
    sims = F.normalize(queries.text.pooled, dim=-1) @ F.normalize(queries.text.pooled, dim=-1).t()
    for i, row in enumerate(near.tolist()):
        others = [j for j in range(len(queries)) if queries.video[j] != queries.video[i]]
        assert row == sorted(others, key=lambda j: -float(sims[i, j]))[:3]


def test_hard_captions_are_the_nearest_other_sentences_and_never_a_positive() -> None:
    data = tiny_data(6, n_videos=4, per_video=4)
    pooled = data.queries.text.pooled
    pooled[5] = pooled[0]  # query 5 (video 1) says what query 0 (video 0) says: nearest, but a positive
    neighbours = text_neighbours(data.queries, 2)
    chosen = torch.tensor([0, 1, 9])
    near = hard_captions(data, neighbours, chosen)
    assert 5 in neighbours[0].tolist() and 5 not in near.tolist()
    assert set(near.tolist()) == set(neighbours[chosen].flatten().tolist()) - {5, *chosen.tolist()}
    assert not related(data, near, chosen).any()


def test_subtitle_only_queries_are_left_out() -> None:
    data = tiny_data(1, per_video=6)
    chosen = visual_queries(data)
    assert [data.queries.kind[i] for i in chosen.tolist()] == [k for k in data.queries.kind if k != "t"]
    assert len(chosen) < len(data.queries)


def test_only_the_backbone_changes() -> None:
    model, data = tiny_model(), tiny_data(2, n_videos=2, frames=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pretrain_visual(model, data, epochs=1, batch=4)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("visual.") for k in changed)


def test_with_motion_cues_the_motion_reader_is_warmed_up_too() -> None:
    torch.manual_seed(0)
    model = create_model(dataclasses.replace(get_config("kairos-tiny"), cnn_glimpse=True, motion_cues=True))
    data = tiny_data(2, n_videos=2, frames=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pretrain_visual(model, data, epochs=1, batch=4)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("hero.motion.") for k in changed)
    assert all(k.startswith(("visual.", "hero.motion.")) for k in changed)


def test_frame_features_instead_of_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="decoded frames"):
        pretrain_visual(tiny_model(), tiny_data(3), epochs=1)


def test_too_few_visible_queries_are_refused() -> None:
    data = tiny_data(4, n_videos=1, per_video=1, frames=True)
    only_spoken = dataclasses.replace(data.queries, kind=["t"])
    with pytest.raises(ValueError, match="not type 't'"):
        pretrain_visual(tiny_model(), dataclasses.replace(data, queries=only_spoken), epochs=1)


def test_trainer_warms_up_once_and_a_resumed_run_does_not_repeat_it(tmp_path: Path) -> None:
    config = quiet(epochs=1, visual_pretrain_epochs=2, visual_pretrain_batch=4, freeze_visual_after=0)
    data = tiny_data(5, n_videos=2, frames=True)
    trainer = Trainer(tiny_model(), config, data)
    state = trainer.fit(tmp_path / "run")
    assert len(state.visual_pretrain) == 2 and state.epoch == 1
    resumed = Trainer(tiny_model(), dataclasses.replace(config, epochs=2), data)
    again = resumed.fit(tmp_path / "run", resume=tmp_path / "run" / "last")
    assert again.visual_pretrain == state.visual_pretrain and again.epoch == 2


def test_queries_of_the_same_moment_are_positives() -> None:
    data = tiny_data(8, n_videos=2, per_video=3)
    q = data.queries
    span = torch.tensor([[0, 1], [1, 2], [3, 3], [0, 1], [1, 1], [2, 2]])
    data = dataclasses.replace(data, queries=dataclasses.replace(q, span=span))
    assert q.video.tolist() == [0, 0, 0, 1, 1, 1]
    expected = torch.tensor(
        [
            [1, 1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 0, 0, 1, 1, 0],
            [0, 0, 0, 1, 1, 0],
            [0, 0, 0, 0, 0, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(positives(data, torch.arange(6)), expected)
