"""kairos-real's zero-shot mode: no trained part is used, clips are their text's sentence vectors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from models.config import ModelConfig
from models.hero import SentenceQuery
from models.registry import create_model, get_config

torch.set_num_threads(1)


def test_zero_shot_clips_and_queries_are_the_text_encoders_vectors() -> None:
    model = create_model("kairos-real").eval()
    assert isinstance(model.query, SentenceQuery) and model.subtitle_gate is None
    text = model.text_encoder(["a dog runs on the beach", "", "a cup of coffee"])
    feats = torch.zeros(3, 3, 1280)
    mask = text.mask.clone()
    mask[1] = False  # as `VideoEncoder.text_tokens` leaves a clip without text
    encoding = model.encode_video(feats, torch.ones(3, 3, dtype=torch.bool), text.tokens, mask)
    assert torch.allclose(encoding.clips[0], text.pooled[0], atol=1e-5)
    assert torch.count_nonzero(encoding.clips[1]) == 0  # a clip with no text says nothing
    query = model.encode_query(model.text_encoder(["a cup of coffee"]))
    assert torch.allclose(query[0], F.normalize(text.pooled[2], dim=0), atol=1e-5)
    assert float(encoding.video.norm()) == pytest.approx(1.0, abs=1e-5)


def test_clip_concepts_name_the_classes_of_each_clips_frames() -> None:
    model = create_model("kairos-real").eval()
    feats = torch.zeros(2, 3, 1280)
    labels = model.clip_concepts(feats, torch.tensor([[True, True, False], [True, False, False]]))
    assert len(labels) == 2 and all(len(clip) == model.config.concepts for clip in labels)


def test_config_checks_for_concepts_and_zero_shot() -> None:
    with pytest.raises(ValueError, match="efficientnet-lite0"):
        ModelConfig(concepts=3)
    with pytest.raises(ValueError, match="dim == text_dim"):
        dataclasses.replace(get_config("kairos-real"), dim=256)
    with pytest.raises(ValueError, match="unknown visual backbone"):
        ModelConfig(visual="resnet")
