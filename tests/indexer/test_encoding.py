"""VideoEncoder: trimming padded subtitle tokens must not change any vector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from indexer.encoding import VideoEncoder, resolve_model
from models.config import ModelError
from models.registry import create_model


def test_trimmed_subtitle_tokens_give_the_vectors_of_full_padding() -> None:
    torch.manual_seed(0)
    model = create_model("kairos-tiny").eval()
    encoder = VideoEncoder(model)
    rng = np.random.default_rng(0)
    c, f, dv = 12, model.config.frames_per_clip, model.config.visual_dim
    feats = rng.standard_normal((c, f, dv)).astype(np.float32)
    mask = np.ones((c, f), dtype=bool)
    for texts in ([""] * c, ["", "a red circle spins", ""] * 4):
        tokens, token_mask = encoder.text_tokens(texts)
        assert tokens.shape[1] == (int(token_mask.sum(dim=1).max()) if any(texts) else 0)
        width = model.config.max_sub_tokens
        padded = torch.zeros(c, width, tokens.shape[2])
        padded_mask = torch.zeros(c, width, dtype=torch.bool)
        padded[:, : tokens.shape[1]] = tokens
        padded_mask[:, : tokens.shape[1]] = token_mask
        with torch.no_grad():
            full = model.encode_video(torch.from_numpy(feats), torch.from_numpy(mask), padded, padded_mask)
        trimmed = encoder.encode(feats, mask, texts, duration=c * model.config.clip_seconds)
        np.testing.assert_allclose(trimmed.clips, full.clips.numpy(), atol=1e-5)
        np.testing.assert_allclose(trimmed.segments, full.segments.numpy(), atol=1e-5)
        np.testing.assert_allclose(trimmed.video, full.video.numpy(), atol=1e-5)


def test_random_weights_are_refused_but_for_the_test_model() -> None:
    with pytest.raises(ModelError, match="'kairos-clip-b32' has no trained weights .* clip:CLIP_DIR"):
        resolve_model("kairos-clip-b32")
    with pytest.raises(ModelError, match="'no-such-model' is neither"):
        resolve_model("no-such-model")
    assert resolve_model("kairos-tiny").config.name == "kairos-tiny"
