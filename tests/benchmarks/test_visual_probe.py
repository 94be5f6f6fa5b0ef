"""The probe's reference reader: the glimpse's own cues per frame, and the action read from them."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks import visual_probe as bench
from models.registry import create_model


def _moving_square(step: int, seed: int, hide_middle: bool = False) -> torch.Tensor:
    """3 noisy grey frames [3,96,128,3] with a red 12-px square moving `step` px to the right per frame."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randint(60, 120, (3, 96, 128, 3), generator=generator, dtype=torch.uint8)
    x0 = 50 + int(torch.randint(-20, 20, (1,), generator=generator))
    for f in range(3):
        if not (hide_middle and f == 1):
            x = x0 + f * step
            frames[f, 40:52, x : x + 12] = torch.tensor([225, 35, 35], dtype=torch.uint8)
    return frames


def test_cues_follow_the_colour_across_frames() -> None:
    model = create_model("kairos-tiny")
    clips = torch.stack([_moving_square(8, 0), _moving_square(-8, 1), _moving_square(8, 2, hide_middle=True)])
    cues = bench.glimpse_cues(model, clips)  # [3, 4*3 + 4*2]: (x, y, seen, mass) per frame, then differences
    assert cues.shape == (3, 20)
    per_frame, moves = cues[:, :12].reshape(3, 3, 4), cues[:, 12:].reshape(3, 2, 4)
    assert (moves[0, :, 0] > 0).all() and (moves[1, :, 0] < 0).all()  # x goes right, then left
    assert np.allclose(moves[:2, :, 1], 0.0, atol=1e-3)  # y stays
    assert per_frame[:2, :, 2].min() == 1.0 and per_frame[2, 1, 2] == 0.0  # seen, except the hidden frame
    assert per_frame[2, 1, 3] == 0.0 < per_frame[2, 0, 3]  # no colourful mass when hidden


def test_trees_read_the_direction_from_the_cues() -> None:
    model = create_model("kairos-tiny")
    steps = [8 if i % 2 else -8 for i in range(100)]
    clips = torch.stack([_moving_square(step, seed) for seed, step in enumerate(steps)])
    action = np.array(["right" if step > 0 else "left" for step in steps])
    fit = np.arange(100) < 60
    read = bench.action_from_cues(model, clips, action, fit)
    assert read["trees"] == 1.0 and read["linear"] == 1.0
