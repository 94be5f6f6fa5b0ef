"""The shipped ImageNet EfficientNet-Lite0: its weights load, real photographs get sensible classes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from indexer.synth.photos import load_photo
from models.efficientnet import EfficientNetBackbone, class_names, top_labels
from models.registry import get_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def backbone() -> EfficientNetBackbone:
    return EfficientNetBackbone(get_config("kairos-real"))


# What a person would accept among the five most probable ImageNet classes of each photograph.
SENSIBLE = {
    "chelsea": {"tabby cat", "Egyptian Mau", "a cat having a striped coat", "lynx"},
    "coffee": {"espresso", "coffee mug", "tea cup", "cup"},
    "rocket": {"missile", "space shuttle", "projectile", "drilling rig"},
    "motorcycle_left": {"moped", "motor scooter", "crash helmet"},
}


@pytest.mark.parametrize("photo", sorted(SENSIBLE))
def test_real_photographs_get_a_sensible_class_in_their_top_five(
    backbone: EfficientNetBackbone, photo: str
) -> None:
    frames = torch.from_numpy(load_photo(photo))[None]
    probs = backbone.class_probs(backbone.encode(frames))[0]
    top5 = {name for name, _ in top_labels(probs, 5, 0.0)}
    assert top5 & SENSIBLE[photo], f"{photo}: top five {sorted(top5)}"


def test_the_network_is_frozen_and_stays_in_eval_mode(backbone: EfficientNetBackbone) -> None:
    backbone.train()
    assert not backbone.net.training
    assert not any(p.requires_grad for p in backbone.parameters())


def test_features_are_1280_wide_and_keep_the_frame_aspect(backbone: EfficientNetBackbone) -> None:
    frames = torch.zeros(2, 224, 320, 3, dtype=torch.uint8)
    assert backbone.preprocess(frames).shape == (2, 3, 224, 320)
    assert backbone.encode(frames).shape == (2, 1280)


def test_class_names_are_the_thousand_imagenet_classes() -> None:
    names = class_names()
    assert len(names) == 1000 and names[0] == "tench" and "Golden Retriever" in names


def test_top_labels_adds_classes_that_share_a_name_and_applies_the_floor() -> None:
    missiles = [i for i, name in enumerate(class_names()) if name == "missile"]
    assert len(missiles) == 2
    probs = torch.zeros(1000)
    probs[missiles] = 0.3
    probs[0] = 0.35
    assert top_labels(probs, 2, 0.0) == [("missile", pytest.approx(0.6)), ("tench", pytest.approx(0.35))]
    assert top_labels(probs, 2, 0.5) == [("missile", pytest.approx(0.6))]


def test_the_visual_dim_must_be_the_network_width() -> None:
    with pytest.raises(ValueError, match="1280-d features"):
        EfficientNetBackbone(dataclasses.replace(get_config("kairos-real"), visual_dim=256))


def test_onnx_runtime_features_equal_torch_features(backbone: EfficientNetBackbone) -> None:
    frames = torch.from_numpy(load_photo("coffee"))[None]
    pixels = backbone.preprocess(frames)
    torch.testing.assert_close(backbone.encode(frames), backbone(pixels), atol=1e-3, rtol=1e-3)
