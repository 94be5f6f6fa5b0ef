"""Text encoder on the real MiniLM, the built-in CNN, and the CLIP path through a tiny tower saved to disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import CLIPVisionModel

from models.config import ModelConfig
from models.encoders import (
    CUES,
    GLIMPSE,
    CLIPBackbone,
    CNNBackbone,
    TextEncoder,
    build_visual,
    crop,
    frame_cues,
)
from models.registry import create_model, get_config
from tests.factories import tiny_clip_dir

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def text_encoder() -> TextEncoder:
    return TextEncoder("minilm")


def test_text_features_shapes_and_pooling(text_encoder: TextEncoder) -> None:
    texts = ["a man opens the door", "the chef flips the pancake in a hot pan"]
    features = text_encoder.encode(texts)
    b, length, dim = features.tokens.shape
    assert (b, dim) == (2, 384) == (2, text_encoder.dim)
    assert features.mask.dtype == torch.bool and features.mask.shape == (2, length)
    assert features.mask[1].all() and not features.mask[0].all()  # the short text is padded
    # sentence-transformers: mean over real tokens, then L2 normalisation
    weights = features.mask.unsqueeze(-1).float()
    expected = F.normalize((features.tokens * weights).sum(1) / weights.sum(1), dim=-1)
    torch.testing.assert_close(features.pooled, expected)
    assert not features.tokens.requires_grad and not text_encoder.model.training


def test_text_padding_does_not_change_a_text(text_encoder: TextEncoder) -> None:
    alone = text_encoder(["a dog runs to the left"])
    batched = text_encoder(
        ["a dog runs to the left", "a much longer sentence that forces padding on the first"]
    )
    torch.testing.assert_close(batched.pooled[:1], alone.pooled, atol=1e-5, rtol=1e-4)


def test_similar_sentences_are_closer(text_encoder: TextEncoder) -> None:
    pooled = text_encoder(
        ["a red ball moves to the left", "the red ball is moving left", "stock prices fell sharply today"]
    ).pooled
    assert float(pooled[0] @ pooled[1]) > float(pooled[0] @ pooled[2]) + 0.2


def test_empty_batch(text_encoder: TextEncoder) -> None:
    features = text_encoder([])
    assert features.pooled.shape == (0, 384) and features.tokens.shape[0] == 0


def test_cnn_shape_size_and_spatial_sensitivity() -> None:
    torch.manual_seed(0)
    config = ModelConfig()
    cnn = build_visual("cnn", config).eval()
    assert isinstance(cnn, CNNBackbone)
    assert sum(p.numel() for p in cnn.parameters()) <= 2_000_000
    frames = torch.zeros(2, 96, 128, 3, dtype=torch.uint8)
    frames[0, 40:56, 10:26] = 255  # the same white square, left ...
    frames[1, 40:56, 100:116] = 255  # ... and right
    with torch.no_grad():
        feats = cnn.encode(frames)
        resized = cnn.encode(torch.zeros(1, 240, 320, 3, dtype=torch.uint8))  # other sizes are resized
    assert feats.shape == (2, config.visual_dim) and resized.shape == (1, config.visual_dim)
    assert float(F.cosine_similarity(feats[0], feats[1], dim=0)) < 0.99


def test_frame_cues_find_the_colourful_pixels() -> None:
    pixels = torch.zeros(3, 3, 96, 128)  # mid grey: no colour
    pixels[0, :, 10:20, 100:110] = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1)  # a red square, top right
    pixels[1] += 0.05 * torch.randn(3, 96, 128)  # grey noise only
    pixels[2, :, 60:80, 20:40] = torch.tensor([-1.0, -1.0, 1.0]).view(3, 1, 1)  # a blue square, bottom left
    cues = frame_cues(pixels)
    centres, seen, mass = cues[:, :2], cues[:, 2], cues[:, 3]
    assert cues.shape == (3, CUES) and seen.tolist() == [1.0, 0.0, 1.0]
    assert mass[1] == 0.0 and 3.5 < float(mass[2] / mass[0]) < 4.5  # 4 times the area
    x, y = (104.5 / 127) * 2 - 1, (14.5 / 95) * 2 - 1  # the red square's middle pixel, in [-1, 1]
    torch.testing.assert_close(centres[0], torch.tensor([x, y]), atol=0.02, rtol=0)
    torch.testing.assert_close(centres[1], torch.zeros(2))  # no colour: the frame's centre
    assert centres[2, 0] < -0.5 and centres[2, 1] > 0.2


def test_crop_cuts_the_window_around_a_centre() -> None:
    pixels = torch.arange(96 * 128, dtype=torch.float32).view(1, 1, 96, 128)
    # window pixel j samples x = j - side/2 + (cx + 1) * W/2: cx = 0.3125 puts the 4 px window on x 82..85
    window = crop(pixels, torch.tensor([[0.3125, 0.0]]), 4)
    rows, cols = torch.arange(46, 50), torch.arange(82, 86)
    torch.testing.assert_close(window[0, 0], pixels[0, 0][rows][:, cols], atol=1e-3, rtol=0)


def test_cnn_glimpse_adds_a_branch_that_sees_the_object_in_its_middle() -> None:
    torch.manual_seed(0)
    config = ModelConfig(cnn_glimpse=True)
    cnn = build_visual("cnn", config).eval()
    plain = build_visual("cnn", ModelConfig()).eval()
    assert sum(p.numel() for p in cnn.parameters()) > sum(p.numel() for p in plain.parameters())
    assert cnn.state_dict().keys() > plain.state_dict().keys()  # old checkpoints' names are kept
    frames = torch.full((2, 96, 128, 3), 128, dtype=torch.uint8)
    frames[:, 30:50, 50:70] = torch.tensor([255, 0, 0], dtype=torch.uint8)
    with torch.no_grad():
        feats = cnn.encode(frames)
        window = crop(cnn.preprocess(frames), frame_cues(cnn.preprocess(frames))[:, :2], GLIMPSE)
    assert feats.shape == (2, config.visual_dim)
    assert window.shape == (2, 3, GLIMPSE, GLIMPSE)
    red = window[0, 0] > 0.8
    assert red[10:30, 10:30].all() and not red[:, :9].any()  # the 20 px square sits in the middle


def test_cnn_motion_cues_end_each_frame_feature_with_its_raw_cues() -> None:
    torch.manual_seed(0)
    config = ModelConfig(cnn_glimpse=True, motion_cues=True)
    cnn = build_visual("cnn", config).eval()
    frames = torch.full((2, 96, 128, 3), 128, dtype=torch.uint8)
    frames[0, 30:50, 50:70] = torch.tensor([255, 0, 0], dtype=torch.uint8)
    with torch.no_grad():
        feats = cnn.encode(frames)
    assert feats.shape == (2, config.visual_dim)
    torch.testing.assert_close(feats[:, -CUES:], frame_cues(cnn.preprocess(frames)))
    assert feats[0, -2] == 1.0 and feats[1, -2] == 0.0  # seen: the red square, then nothing


def test_motion_cues_need_the_cnn_glimpse() -> None:
    with pytest.raises(ValueError, match="motion_cues needs"):
        ModelConfig(motion_cues=True)


def test_unknown_visual_spec() -> None:
    with pytest.raises(ValueError, match="unknown visual backbone"):
        build_visual("resnet", ModelConfig())
    with pytest.raises(ValueError, match="unknown visual backbone"):
        ModelConfig(visual="clip:")


def tiny_clip_config(clip_dir: Path) -> ModelConfig:
    return dataclasses.replace(get_config("kairos-tiny"), name="tiny-clip", visual=f"clip:{clip_dir}")


def test_clip_loads_from_a_directory(tmp_path: Path) -> None:
    clip_dir = tiny_clip_dir(tmp_path)
    model = create_model(tiny_clip_config(clip_dir)).eval()
    backbone = model.visual
    assert isinstance(backbone, CLIPBackbone)
    assert model.config.clip_vision is not None and model.config.clip_vision["hidden_size"] == 32
    saved = CLIPVisionModel.from_pretrained(clip_dir)
    for key, value in saved.state_dict().items():
        torch.testing.assert_close(backbone.tower.state_dict()[key], value)  # the real weights, not random
    frames = torch.randint(0, 256, (4, 96, 128, 3), dtype=torch.uint8)
    pixels = backbone.preprocess(frames)
    assert pixels.shape == (4, 3, 32, 32)
    grey = backbone.preprocess(torch.full((1, 96, 128, 3), 123, dtype=torch.uint8))
    torch.testing.assert_close(grey[0, :, 0, 0], (123 / 255 - backbone.mean.view(3)) / backbone.std.view(3))
    assert model.encode_frames(frames).shape == (4, model.config.visual_dim)
    # the tower is frozen and stays in eval mode; the projection trains
    model.train()
    assert not backbone.tower.training and backbone.proj.training
    assert not any(p.requires_grad for p in backbone.tower.parameters())
    assert all(p.requires_grad for p in backbone.proj.parameters())


def test_clip_b32_registry_shape_is_random_and_offline() -> None:
    config = get_config("kairos-clip-b32")
    assert config.clip_vision is not None and config.clip_vision["patch_size"] == 32
    assert config.clip_vision["hidden_size"] == 768 and config.clip_vision["num_hidden_layers"] == 12
