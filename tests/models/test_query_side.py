"""The query side alone: the gated sentence skip, fine-tuning from a checkpoint, query-side-only training."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from models.checkpoint import CheckpointError, init_from, save_checkpoint
from models.model import KairosModel
from models.registry import create_model, get_config
from models.train import Trainer, trained_parameters
from tests.models.test_train import quiet, tiny_data, tiny_model, with_variants

torch.set_num_threads(1)


def skip_model(seed: int = 0, query_skip: bool = True, subtitle_skip: bool = False) -> KairosModel:
    torch.manual_seed(seed)
    config = get_config("kairos-tiny")
    return create_model(dataclasses.replace(config, query_skip=query_skip, subtitle_skip=subtitle_skip))


def set_gate(model: KairosModel, value: float) -> None:
    gate = model.query.get_parameter("sentence_gate")
    with torch.no_grad():
        gate.fill_(value)


def test_the_skip_starts_closed_and_never_reaches_subtitle_vectors() -> None:
    data = tiny_data(0)
    plain, skip = skip_model(query_skip=False, subtitle_skip=True), skip_model(subtitle_skip=True)
    skip.load_state_dict(plain.state_dict(), strict=False)
    plain.eval(), skip.eval()
    text = data.queries.text
    assert torch.allclose(plain.encode_query(text), skip.encode_query(text))
    set_gate(skip, 1.0)
    assert not torch.allclose(plain.encode_query(text), skip.encode_query(text))
    video = data.videos[0]
    tokens, mask = video.sub_tokens.float(), video.sub_mask
    said, skipped = plain.subtitle_vectors(tokens, mask), skip.subtitle_vectors(tokens, mask)
    assert said is not None and skipped is not None and torch.equal(said, skipped)


def test_init_from_fills_what_the_checkpoint_has_and_names_what_it_adds(tmp_path: Path) -> None:
    save_checkpoint(tiny_model(), tmp_path / "plain")
    model = skip_model(seed=1)
    assert init_from(model, tmp_path / "plain") == ["query.sentence.weight", "query.sentence_gate"]
    for key, value in tiny_model().state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    save_checkpoint(model, tmp_path / "skip")
    with pytest.raises(CheckpointError, match="unexpected keys: query.sentence"):
        init_from(tiny_model(), tmp_path / "skip")


@pytest.mark.parametrize("parts", ["query", "query_skip"])
def test_a_query_side_fine_tune_changes_nothing_else(parts: str) -> None:
    model = skip_model()
    set_gate(model, 0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(
        model, quiet(epochs=2, train_parts=parts, paraphrase_weight=1.0), with_variants(tiny_data(0))
    )
    trainer.fit()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    trained = set(trained_parameters(model, parts))
    assert changed and changed <= trained
    assert trained == ({"query.sentence.weight", "query.sentence_gate"} if parts == "query_skip" else trained)
    assert all(k.startswith("query.") for k in trained)


def test_the_paraphrase_loss_is_reported_and_needs_variants() -> None:
    trainer = Trainer(tiny_model(), quiet(paraphrase_weight=1.0), with_variants(tiny_data(0)))
    out = trainer.train_epoch()
    assert out["paraphrase"] > 0.0
    plain = Trainer(tiny_model(), quiet(paraphrase_weight=1.0), tiny_data(0)).train_epoch()
    assert plain["paraphrase"] == 0.0


def test_a_model_without_a_skip_has_nothing_to_train_for_query_skip() -> None:
    with pytest.raises(ValueError, match="no such parameters"):
        Trainer(tiny_model(), quiet(train_parts="query_skip"), tiny_data(0))
    with pytest.raises(ValueError, match="train_parts"):
        quiet(train_parts="clips")
