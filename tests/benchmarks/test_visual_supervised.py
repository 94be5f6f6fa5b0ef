"""The supervised backbone check trains a real CNN and scores it on clips it did not train on."""

from __future__ import annotations

import dataclasses

import torch

from benchmarks import visual_supervised as bench
from models.registry import create_model, get_config


def _clips(colours: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy grey frames [N,3,24,32,3] with a red (0) or blue (1) square in the middle; labels [N,5]."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randint(60, 120, (len(colours), 3, 24, 32, 3), generator=generator, dtype=torch.uint8)
    for n, colour in enumerate(colours):
        frames[n, :, 8:16, 12:20] = torch.tensor([225, 35, 35] if colour == 0 else [45, 85, 240])
    labels = torch.zeros(len(colours), 5, dtype=torch.long)
    labels[:, 0] = torch.tensor(colours)
    return frames, labels


def test_a_backbone_learns_an_attribute_it_is_trained_on() -> None:
    model = create_model(dataclasses.replace(get_config("kairos-tiny"), frame_width=32, frame_height=24))
    train, test = _clips([0, 1] * 8, seed=0), _clips([1, 0] * 6, seed=1)
    history = bench.train_and_score(model, train, test, steps=24, every=8, lr=3e-3)
    assert [row["step"] for row in history] == [8, 16, 24]
    assert history[-1]["colour"] == 1.0
    assert history[-1]["loss"] < history[0]["loss"]
    assert set(bench.ATTRIBUTES) <= set(history[-1])
