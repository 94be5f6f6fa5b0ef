"""The training loop on small random tensors, `kairos-tiny`: losses fall, seeds repeat, resume is exact."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models.data import QueryData, TrainData, VideoData, collate_videos
from models.encoders import TextFeatures
from models.model import KairosModel
from models.registry import create_model
from models.train import (
    KeyBank,
    TrainConfig,
    Trainer,
    batch_keys,
    best_key_scores,
    encode_clip_states,
    predict,
    retrieval_metrics,
)

torch.set_num_threads(1)

TEXT_DIM = 384


def _queries(gen: torch.Generator, video: list[int], spans: list[tuple[int, int]], kind: str) -> QueryData:
    n, length = len(video), 6
    mask = torch.arange(length)[None, :] < torch.randint(2, length + 1, (n, 1), generator=gen)
    return QueryData(
        text=TextFeatures(
            tokens=torch.randn(n, length, TEXT_DIM, generator=gen) * mask[..., None],
            mask=mask,
            pooled=F.normalize(torch.randn(n, TEXT_DIM, generator=gen), dim=-1),
        ),
        video=torch.tensor(video),
        span=torch.tensor(spans).view(-1, 2),
        seconds=torch.tensor([(1.5 * s, 1.5 * (e + 1)) for s, e in spans]).view(-1, 2),
        kind=[kind if kind != "v" else ("v", "t", "vt")[i % 3] for i in range(n)],
    )


def tiny_data(seed: int, n_videos: int = 4, per_video: int = 3, frames: bool = False) -> TrainData:
    """Each video 4-6 clips, `per_video` queries and 2 subtitle lines; random text features and either
    random uint8 frames or (faster: no backbone) random `kairos-tiny` frame features [C,3,32]."""
    gen = torch.Generator().manual_seed(seed)
    videos, q_video, q_spans, l_video, l_spans = [], [], [], [], []
    for v in range(n_videos):
        c = 4 + v % 3
        frame_mask = torch.ones(c, 3, dtype=torch.bool)
        frame_mask[-1, 2] = False  # a short last clip
        sub_mask = torch.arange(5)[None, :] < torch.randint(0, 6, (c, 1), generator=gen)
        videos.append(
            VideoData(
                name=f"v{v}",
                duration=1.5 * c - 0.5,
                frames=(
                    torch.randint(0, 256, (c, 3, 96, 128, 3), generator=gen, dtype=torch.uint8)
                    if frames
                    else torch.randn(c, 3, 32, generator=gen)
                ),
                frame_mask=frame_mask,
                sub_tokens=(torch.randn(c, 5, TEXT_DIM, generator=gen) * sub_mask[..., None]).half(),
                sub_mask=sub_mask,
            )
        )
        for i in range(per_video):
            start = int(torch.randint(0, c - 1, (1,), generator=gen))
            q_video.append(v)
            q_spans.append((start, min(c - 1, start + i % 3)))
        l_video += [v, v]
        l_spans += [(0, 1), (c - 2, c - 1)]
    return TrainData(
        videos=videos,
        queries=_queries(gen, q_video, q_spans, "v"),
        pseudo=_queries(gen, l_video, l_spans, "sub"),
    )


def tiny_model(seed: int = 0) -> KairosModel:
    torch.manual_seed(seed)
    return create_model("kairos-tiny")


def quiet(**changes: object) -> TrainConfig:
    defaults: dict[str, object] = {  # the loop's mechanics at toy size, not the bundled recipe
        "epochs": 30,
        "batch_videos": 2,
        "freeze_visual_after": 4,
        "visual_pretrain_epochs": 0,
        "lr": 2e-3,
        "progress": False,
        "sampled_queries": 4,
    }
    return TrainConfig(**(defaults | changes))  # type: ignore[arg-type]


def test_training_steps_lower_the_loss() -> None:
    trainer = Trainer(tiny_model(), quiet(epochs=6), tiny_data(0))
    first = trainer.train_epoch()
    for _ in range(5):
        last = trainer.train_epoch()
    assert set(first) == {"video", "pool", "clip", "tag", "pair", "vsm", "mfm", "total"}
    assert last["total"] < 0.8 * first["total"]
    assert trainer.state.step == 6 * 4  # one anchor and one hard negative per step


def test_a_video_scores_as_its_best_clip_or_segment_and_padding_never_counts() -> None:
    model = tiny_model()
    gen = torch.Generator().manual_seed(7)
    lengths = [5, 2]
    clips = F.normalize(torch.randn(2, 5, model.config.dim, generator=gen), dim=-1)
    mask = torch.arange(5)[None, :] < torch.tensor(lengths)[:, None]
    queries = F.normalize(torch.randn(3, model.config.dim, generator=gen), dim=-1)
    clips[1, 2:] = 10 * queries[0]  # padding that would win if it counted
    scores = best_key_scores(queries, batch_keys(model, clips, mask))
    for b, n in enumerate(lengths):
        segments, ranges = model.segments(clips[b, :n])
        means = torch.stack([F.normalize(clips[b, s:e].sum(0), dim=0) for s, e in ranges.tolist()])
        assert torch.allclose(segments, means, atol=1e-6)
        expected = (queries @ torch.cat([clips[b, :n], means]).t()).amax(dim=1)
        assert torch.allclose(scores[:, b], expected, atol=1e-6)


def with_variants(data: TrainData) -> TrainData:
    """Each query gets two 'shorter phrasings': copies of it with other random text features."""
    gen = torch.Generator().manual_seed(9)
    source = torch.arange(len(data.queries)).repeat_interleave(2)
    variants = data.queries.select(source)
    pooled = F.normalize(torch.randn(variants.text.pooled.shape, generator=gen), dim=-1)
    variants.text = dataclasses.replace(variants.text, pooled=pooled)
    return dataclasses.replace(data, variants=variants, variant_of=source)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_queries_are_swapped_for_their_own_shorter_phrasings(share: float) -> None:
    data = with_variants(tiny_data(0))
    trainer = Trainer(tiny_model(), quiet(variant_share=share), data)
    q_index = torch.arange(len(data.queries))
    rows = trainer._phrased(q_index)
    n = len(data.queries)
    if share == 0.0:
        assert torch.equal(rows, q_index)
    else:
        assert bool((rows >= n).all())
        assert torch.equal(data.variant_of[rows - n], q_index)  # type: ignore[index]
    assert torch.isfinite(trainer.losses(torch.tensor([0, 1]))["total"])


def test_the_pooled_video_loss_trains_the_pooling_only() -> None:
    trainer = Trainer(tiny_model(), quiet(vsm=False, mfm=False), tiny_data(0))
    trainer.model.train()
    trainer.losses(torch.tensor([0, 1]))["pool"].backward()
    hero = trainer.model.hero
    pool_grad = hero.pool_score.weight.grad
    assert pool_grad is not None and float(pool_grad.abs().sum()) > 0
    others = [p for name, p in trainer.model.named_parameters() if not name.startswith("hero.pool_score")]
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in others)


@pytest.mark.parametrize("name", ["mfm", "vsm"])
def test_self_supervised_loss_falls_when_trained_alone(name: str) -> None:
    trainer = Trainer(tiny_model(), quiet(mfm=name == "mfm", vsm=name == "vsm"), tiny_data(1))
    trainer.model.train()
    index = torch.tensor([0, 1, 2, 3])
    values = []
    for _ in range(30):
        loss = trainer.losses(index)[name]
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        values.append(float(loss.detach()))
    assert sum(values[-3:]) / 3 < 0.7 * sum(values[:3]) / 3


def test_same_seed_same_losses() -> None:
    histories = []
    for _ in range(2):
        trainer = Trainer(tiny_model(3), quiet(epochs=2, seed=5), tiny_data(2))
        histories.append(trainer.fit().history)
    assert histories[0] == histories[1]
    other = Trainer(tiny_model(3), quiet(epochs=2, seed=6), tiny_data(2)).fit().history
    assert other != histories[0]


class _Interrupted(Exception):
    pass


class _StopAfter(Trainer):
    """Dies at the start of epoch `stop + 1`, after the checkpoint of epoch `stop` was written."""

    stop = 2

    def train_epoch(self) -> dict[str, float]:
        if self.state.epoch == self.stop:
            raise _Interrupted
        return super().train_epoch()


def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path: Path) -> None:
    config = quiet(epochs=4, freeze_visual_after=1, patience=10)
    data, val = tiny_data(4, n_videos=2, frames=True), tiny_data(5, n_videos=2, frames=True)
    whole = Trainer(tiny_model(7), config, data, val)
    whole.fit(tmp_path / "whole")

    with pytest.raises(_Interrupted):
        _StopAfter(tiny_model(7), config, data, val).fit(tmp_path / "cut")
    resumed = Trainer(
        tiny_model(99), config, data, val
    )  # other init: everything must come from the checkpoint
    assert resumed.fit(tmp_path / "cut", resume=tmp_path / "cut" / "last").epoch == 4

    assert resumed.state.step == whole.state.step == 8
    assert resumed.state.history == whole.state.history
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert (tmp_path / "cut" / "last" / "trainer_state.json").is_file()


def test_frozen_backbone_stays_fixed() -> None:
    trainer = Trainer(
        tiny_model(), quiet(epochs=2, freeze_visual_after=1), tiny_data(6, n_videos=2, frames=True)
    )
    trainer.fit()
    before = {k: v.clone() for k, v in trainer.model.visual.state_dict().items()}
    trainer.config.epochs = 3
    trainer.fit()
    for key, value in trainer.model.visual.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert trainer.data.videos[0].frames.dtype == torch.float32


def test_validation_metrics_and_early_stopping() -> None:
    val = tiny_data(8, n_videos=3)
    trainer = Trainer(tiny_model(), quiet(epochs=6, patience=1, lr=0.0), tiny_data(7), val)
    state = trainer.fit()
    assert state.stopped and state.epoch == 2  # lr 0: nothing improves after the first validation
    metrics = state.history[0]["metrics"]
    assert set(metrics) == {
        "vr_r1",
        "vr_r5",
        "vr_r10",
        "svmr_r1_iou0.5",
        "svmr_r1_iou0.7",
        "svmr_r5_iou0.5",
        "svmr_r5_iou0.7",
        "score",
    }
    assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert metrics["vr_r5"] == 1.0  # 3 videos
    pred = predict(trainer.model, val, trainer.config)
    assert pred.scores.shape == (len(val.queries), 3)
    assert all(len(m) <= trainer.config.top_n for m in pred.moments)
    only_v = retrieval_metrics(pred, val, torch.tensor([0, 3, 6]))
    assert set(only_v) == set(metrics)


def test_key_bank_mines_the_videos_whose_keys_best_match() -> None:
    bank = KeyBank([1, 2, 1, 1, 1], dim=2, device=torch.device("cpu"))
    keys = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]])]
    keys += [torch.tensor([[0.5, 0.75]]), torch.tensor([[-1.0, -0.5]])]
    bank.update(torch.arange(4), keys)
    query = torch.tensor([[0.0, 1.0]])
    gen = torch.Generator().manual_seed(0)
    assert bank.hardest(query, torch.tensor([1]), 1, gen).tolist() == [2]  # video 1 is in the batch
    assert bank.hardest(query, torch.tensor([1]), 3, gen).tolist() == [2, 0, 3]
    assert bank.hardest(query, torch.tensor([1]), 9, gen).tolist() == [2, 0, 3, 4]  # never stored: last
    assert bank.hardest(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), 1, gen).tolist() == [1]  # best key
    # each query's best video first: the first query's video 0 (1.0), the second's video 2 (0.8); by best
    # match to any query alone, video 1 (0.98 for the first query) would take the second place
    spread = KeyBank([1, 1, 1], dim=2, device=torch.device("cpu"))
    spread.update(
        torch.arange(3), [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.98, 0.2]]), torch.tensor([[0.0, 1.0]])]
    )
    two = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    assert spread.hardest(two, torch.tensor([], dtype=torch.long), 2, gen).tolist() == [0, 2]
    assert spread.hardest(two, torch.tensor([], dtype=torch.long), 3, gen).tolist() == [0, 2, 1]


def test_key_bank_scores_each_stored_video_by_its_best_key() -> None:
    bank = KeyBank([2, 3, 1], dim=2, device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(3)
    keys = [F.normalize(torch.randn(n, 2, generator=gen), dim=-1) for n in (2, 1)]
    bank.update(torch.tensor([0, 1]), keys)  # video 1 stores 1 of its up to 3 keys
    queries = F.normalize(torch.randn(4, 2, generator=gen), dim=-1)
    scores, stored = bank.scores(queries)
    assert stored.tolist() == [True, True, False]
    assert torch.allclose(scores[:, :2], best_key_scores(queries, keys), atol=1e-6)
    assert bool(torch.isinf(scores[:, 2]).all())  # never stored
    bank.update(torch.tensor([0]), [keys[1]])  # fewer keys than before: the old second key is gone
    assert torch.allclose(bank.scores(queries)[0][:, 0], (queries @ keys[1].t())[:, 0], atol=1e-6)


def test_clip_states_skip_subtitles_of_silent_clips_without_changing_them() -> None:
    model = tiny_model().eval()
    videos = tiny_data(9, n_videos=2).videos
    batch = collate_videos(videos, "cpu")
    assert bool(batch.sub_mask.any(dim=1).any()) and not bool(batch.sub_mask.any(dim=1).all())
    with torch.no_grad():
        split = encode_clip_states(model, batch)
        whole = batch.pad(model.clip_level(batch.frames, batch.frame_mask, batch.sub_tokens, batch.sub_mask))
    assert torch.allclose(split, whole, atol=1e-5)
