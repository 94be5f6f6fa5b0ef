"""Real CLIP weights through `clip:<dir>`: a tiny random CLIP saved to disk and loaded by the real code."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, CLIPModel

from models.config import ModelError
from models.encoders import CLIPBackbone, resolve_text_model
from models.model import KairosModel
from models.pretrained import resolve_model
from models.query_backends import BACKENDS, load_query_backend
from models.registry import create_model, get_config
from tests.factories import tiny_clip_dir

torch.set_num_threads(1)

TEXTS = ["a red circle spins", "a dog", "the chef flips the pancake " * 20]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clip_dir(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def zero_shot(clip_dir: Path) -> KairosModel:
    return resolve_model(f"clip:{clip_dir}").eval()


def test_zero_shot_vectors_are_clips_own(zero_shot: KairosModel, clip_dir: Path) -> None:
    config = zero_shot.config
    assert config.zero_shot and config.dim == config.visual_dim == config.text_dim == 16
    assert (config.frame_width, config.frame_height) == (32, 32)
    clip = CLIPModel.from_pretrained(clip_dir).eval()
    tokens = AutoTokenizer.from_pretrained(clip_dir)(
        TEXTS, padding=True, truncation=True, max_length=77, return_tensors="pt"
    )
    frames = torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        text = F.normalize(clip.get_text_features(**tokens).pooler_output, dim=-1)
        pixels = zero_shot.visual.preprocess(frames)
        image = F.normalize(clip.get_image_features(pixel_values=pixels).pooler_output, dim=-1)
        torch.testing.assert_close(zero_shot.encode_query(zero_shot.text_encoder(TEXTS)), text)
        torch.testing.assert_close(zero_shot.encode_frames(frames), image)
        said = zero_shot.text_encoder(["", "a dog"])
        mask = said.mask.clone()
        mask[0] = False  # a clip without text, as `VideoEncoder.text_tokens` leaves it
        frame_mask = torch.tensor([[True, True], [True, False]])
        encoding = zero_shot.encode_video(image.view(2, 2, 16), frame_mask, said.tokens, mask)
    seen = F.normalize(torch.stack([image[:2].mean(0), image[2]]), dim=-1)
    torch.testing.assert_close(encoding.clips[0], seen[0])  # no text: the frames' normalised mean
    torch.testing.assert_close(encoding.clips[1], F.normalize(seen[1] + text[1], dim=0))  # + what is said


def test_query_backends_agree_on_the_clip_text_tower(zero_shot: KairosModel, tmp_path: Path) -> None:
    backends = {name: load_query_backend(zero_shot, name, tmp_path) for name in BACKENDS}
    for batch in (TEXTS, TEXTS[:1], ["same length one", "same length two"]):
        want = backends["torch"].encode(batch)
        assert want.shape == (len(batch), 16)
        assert np.abs(backends["onnx-fp32"].encode(batch) - want).max() < 1e-4
        assert (backends["onnx-int8"].encode(batch) * want).sum(1).min() > 0.99


def test_the_trainable_recipe_keeps_minilm_and_the_folders_tower(clip_dir: Path) -> None:
    config = get_config(f"clip:{clip_dir}")
    assert not config.zero_shot and config.text_model == "minilm" and config.name == f"clip:{clip_dir}"
    model = create_model(config)
    assert isinstance(model.visual, CLIPBackbone) and model.config.clip_vision is not None
    saved = CLIPModel.from_pretrained(clip_dir).vision_model.state_dict()
    for key, value in model.visual.tower.state_dict().items():
        torch.testing.assert_close(value, saved[key])  # the real weights, not random
    assert all(p.requires_grad for p in model.visual.proj.parameters())


def test_a_hub_id_offline_is_one_clear_error(offline_hub: Path) -> None:
    with pytest.raises(ModelError, match="'openai/clip-vit-base-patch32'.*hf download") as error:
        resolve_model("clip:openai/clip-vit-base-patch32")
    assert "clip:DIR" in str(error.value) and error.value.__cause__ is None


def test_a_hub_id_in_the_hub_cache_loads_offline(clip_dir: Path, offline_hub: Path) -> None:
    commit = "0" * 40  # the cache layout `hf download` leaves: refs/main -> snapshots/<commit>/
    shutil.copytree(clip_dir, offline_hub / "models--kairos--tiny-clip" / "snapshots" / commit)
    (offline_hub / "models--kairos--tiny-clip" / "refs").mkdir()
    (offline_hub / "models--kairos--tiny-clip" / "refs" / "main").write_text(commit)
    model = resolve_model("clip:kairos/tiny-clip")
    assert model.config.visual == model.config.text_model == "clip:kairos/tiny-clip"
    assert model.encode_query(model.text_encoder(TEXTS)).shape == (3, 16)


def test_a_folder_without_a_clip_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"{tmp_path} has no config.json"):
        resolve_model(f"clip:{tmp_path}")
    minilm = resolve_text_model("minilm")
    with pytest.raises(ModelError, match="holds a 'bert' model, not a CLIP"):
        resolve_model(f"clip:{minilm}")


def test_a_clip_folder_missing_weights_is_refused(clip_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(clip_dir, tmp_path / "clip")
    weights = load_file(clip_dir / "model.safetensors")
    kept = {k: v for k, v in weights.items() if "visual_projection" not in k}
    save_file(kept, tmp_path / "clip" / "model.safetensors")
    with pytest.raises(ModelError, match=r"lacks 1 CLIP weights \(visual_projection.weight"):
        resolve_model(f"clip:{tmp_path / 'clip'}")
