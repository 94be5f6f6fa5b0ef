"""VideoEncoder: trimming padded subtitle tokens must not change any vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from indexer.cues import Cue
from indexer.encoding import EncodedVideo, VideoEncoder, concept_lines
from models.config import ModelError
from models.pretrained import resolve_model
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


def test_concept_lines_merge_runs_of_clips_that_saw_the_same() -> None:
    seen = ["cat", "cat", "", "coffee mug", "coffee mug", "cat"]
    assert concept_lines(seen, 1.5, 8.5) == [
        Cue(0.0, 3.0, "cat", "concepts"),
        Cue(4.5, 7.5, "coffee mug", "concepts"),
        Cue(7.5, 8.5, "cat", "concepts"),
    ]


def test_an_encoded_video_keeps_its_lines_through_its_checkpoint(tmp_path: Path) -> None:
    lines = [Cue(0.0, 1.5, "espresso, tea cup", "concepts")]
    video = EncodedVideo(
        clips=np.eye(2, dtype=np.float32),
        segments=np.eye(2, dtype=np.float32)[:1],
        segment_ranges=np.array([[0, 2]]),
        video=np.ones(2, dtype=np.float32),
        duration=3.0,
        lines=lines,
    )
    video.save(tmp_path / "v.npz")
    assert EncodedVideo.load(tmp_path / "v.npz").lines == lines
    bare = EncodedVideo(video.clips, video.segments, video.segment_ranges, video.video, 3.0)
    bare.save(tmp_path / "bare.npz")
    assert EncodedVideo.load(tmp_path / "bare.npz").lines == []


def test_random_weights_are_refused_but_for_the_test_model() -> None:
    with pytest.raises(ModelError, match="'kairos-clip-b32' has no trained weights .* clip:CLIP_DIR"):
        resolve_model("kairos-clip-b32")
    with pytest.raises(ModelError, match="'no-such-model' is neither"):
        resolve_model("no-such-model")
    assert resolve_model("kairos-tiny").config.name == "kairos-tiny"
