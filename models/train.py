"""The training loop on tensors: NCE + tag losses (+ VSM, MFM-NCE), validation, early stopping, checkpoints.

One step takes a few videos with all their queries. Negatives (CBT / Hammer style) are the other videos and
clips of the batch, plus random queries of other videos for the video → query direction. A video's score in
the query ↔ video loss is its best clip or segment, as VR and stage 1 rank it; the attention-pooled video
vector has a loss of its own that trains only the pooling (clips and queries detached). Three quarters of
each batch (`hard_negatives`) are hard negatives: the videos whose keys, as a bank (`KeyBank`) of detached
keys from the last time each video was encoded, best match the other videos' queries, each query's best video
first. They are encoded afresh with the batch: scoring against the stale bank keys themselves made the losses
climb (end to end from scratch) or held-out VR fall (a warmed-up, frozen CNN). The text encoder is frozen:
its features come precomputed in the data.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm import tqdm

from models.checkpoint import load_checkpoint, save_checkpoint
from models.data import QueryData, TrainData, VideoBatch, VideoData, cat_queries, collate_videos
from models.losses import info_nce, mfm_nce, mfm_positions, symmetric_nce, tag_losses
from models.model import KairosModel
from models.moment import spans_to_seconds, tag_targets
from models.tvr_metrics import moment_recall, video_recall
from models.visual_pretrain import pretrain_visual

log = logging.getLogger(__name__)

STATE_JSON = "trainer_state.json"
STATE_TENSORS = "trainer_state.safetensors"


@dataclass
class TrainConfig:
    """Optimisation, loss weights and switches, evaluation and early stopping of one training run."""

    epochs: int = 30
    batch_videos: int = 8
    # epochs of end-to-end training, then frame features are computed once and fixed (None: never); the CNN
    # pass is most of an end-to-end step's cost on CPU
    freeze_visual_after: int | None = 4
    # epochs of clip-text contrastive warm-up of the visual backbone before the first epoch (see
    # models.visual_pretrain); 0: none
    visual_pretrain_epochs: int = 0
    visual_pretrain_batch: int = 64
    visual_pretrain_hard_texts: int = 2  # per query, nearest other-video sentences added as warm-up negatives
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05  # share of the planned steps with a linear warm-up
    grad_clip: float = 1.0
    temperature: float = 0.05
    video_weight: float = 1.0  # query <-> video by the video's best clip or segment (what VR ranks by)
    pool_weight: float = 1.0  # query <-> attention-pooled video vector; trains the pooling only
    clip_weight: float = 1.0
    tag_weight: float = 1.0
    pair_weight: float = 0.5
    hard_negatives: float = 0.75  # share of each batch filled with the videos closest to the others' queries
    sampled_queries: int = 64  # queries of other videos added as negatives for video → query
    # shorter phrasings per query made by the dataset (`indexer.dataset.shorter_phrasings`); each step, a
    # query that has some is replaced by one of them with probability `variant_share`
    query_variants: int = 3
    variant_share: float = 0.5
    vsm: bool = True
    vsm_weight: float = 0.5
    vsm_lines: int = 4  # subtitle pseudo-queries per video per step
    mfm: bool = True
    mfm_weight: float = 0.5
    mfm_ratio: float = 0.15
    seed: int = 0
    eval_every: int = 1  # epochs between validations
    patience: int = 5  # validations without improvement before stopping
    monitor: str = "score"  # a key of `retrieval_metrics`; higher is better
    eval_batch_videos: int = 16
    top_n: int = 5
    max_clips: int | None = None
    nms_iou: float = 0.5
    device: str = "cpu"
    progress: bool = True


@dataclass
class TrainState:
    """Where a run stands after `epoch` epochs; what `trainer_state.json` holds."""

    epoch: int = 0
    step: int = 0
    best: float | None = None
    best_epoch: int | None = None
    stale_evals: int = 0
    stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    visual_pretrain: list[float] = field(default_factory=list)  # mean loss of each warm-up epoch


class KeyBank:
    """Detached keys (`video_keys`) of every training video from the last step that encoded it, to mine hard
    negatives by what VR ranks by."""

    def __init__(self, sizes: Sequence[int], dim: int, device: torch.device) -> None:
        self.keys = torch.zeros(len(sizes), max(sizes, default=1), dim, device=device)  # [V,K,D]
        self.valid = torch.zeros(len(sizes), max(sizes, default=1), dtype=torch.bool, device=device)  # [V,K]

    def update(self, index: Tensor, keys: Sequence[Tensor]) -> None:
        """Store the keys [K_i,D] of the videos `index` [B]."""
        for i, k in zip(index.tolist(), keys, strict=True):
            self.keys[i, : len(k)] = k.detach()
            self.valid[i] = False
            self.valid[i, : len(k)] = True

    def scores(self, queries: Tensor) -> tuple[Tensor, Tensor]:
        """Each query's [Q,D] best score among each stored video's keys [Q,V]; which videos are stored [V]."""
        v, k, d = self.keys.shape
        sims = (queries @ self.keys.view(v * k, d).t()).view(len(queries), v, k)
        return sims.masked_fill(~self.valid, float("-inf")).amax(dim=2), self.valid.any(dim=1)

    def hardest(self, queries: Tensor, exclude: Tensor, k: int, generator: torch.Generator) -> Tensor:
        """Up to k videos not in `exclude` whose stored keys best match `queries` [Q,D]: first each query's
        best video, queries with the closest match first (so that the k videos serve k queries where they
        can), then the rest by their best match to any query; videos never stored rank last, in random order.
        """
        scores, stored = self.scores(queries)  # [Q,V]
        unseen = -2.0 - torch.rand(len(stored), generator=generator).to(stored.device)  # below any cosine
        scores = torch.where(stored, scores, unseen)
        scores[:, exclude.to(scores.device)] = float("-inf")
        best, video = scores.max(dim=1)  # [Q] each
        first = dict.fromkeys(video[best.argsort(descending=True)].tolist())  # an ordered set
        rest = [v for v in scores.amax(dim=0).argsort(descending=True).tolist() if v not in first]
        k = min(k, len(stored) - len(exclude.unique()))
        return torch.tensor([*first, *rest][:k], dtype=torch.long)

    def tensors(self) -> dict[str, Tensor]:
        return {"bank.keys": self.keys, "bank.keys_valid": self.valid}

    def load(self, tensors: dict[str, Tensor]) -> None:
        self.keys.copy_(tensors["bank.keys"])
        self.valid.copy_(tensors["bank.keys_valid"])


@dataclass
class Targets:
    """Tag targets of every query padded to the longest video: unary [Q,Cmax,3], pair [Q,Cmax-1,3,3]."""

    unary: Tensor
    pair: Tensor

    @classmethod
    def build(cls, queries: QueryData, videos: Sequence[VideoData]) -> Targets:
        c_max = max([v.n_clips for v in videos] + [2])
        unary = torch.zeros(len(queries), c_max, 3)
        pair = torch.zeros(len(queries), c_max - 1, 3, 3)
        for i, (video, (start, end)) in enumerate(
            zip(queries.video.tolist(), queries.span.tolist(), strict=True)
        ):
            u, p = tag_targets([(start, end)], videos[video].n_clips)
            unary[i, : len(u)], pair[i, : len(p)] = u, p
        return cls(unary, pair)


def encode_clip_states(model: KairosModel, batch: VideoBatch) -> Tensor:
    """Clip-level states of all clips of the batch, padded to [B,C,hidden]; one backbone call for all.

    Clips without subtitle text skip the subtitle tokens (they would all be masked out: same result), which
    saves most of the clip-level cost when few clips are spoken over.
    """
    n, f = batch.frame_mask.shape
    frames = batch.frames
    if frames.dtype == torch.uint8:  # [N,F,H,W,3] -> [N*F,H,W,3] -> [N*F,Dv] -> [N,F,Dv]
        frames = model.encode_frames(frames.flatten(0, 1)).view(n, f, -1)
    spoken = batch.sub_mask.any(dim=1)  # [N]
    parts, order = [], []
    for index, text in ((spoken.nonzero().squeeze(1), True), ((~spoken).nonzero().squeeze(1), False)):
        if len(index):
            tokens, mask = (batch.sub_tokens[index], batch.sub_mask[index]) if text else (None, None)
            parts.append(model.clip_level(frames[index], batch.frame_mask[index], tokens, mask))
            order.append(index)
    states = torch.cat(parts)[torch.argsort(torch.cat(order))]  # [N,hidden], back in clip order
    return batch.pad(states)


def video_keys(model: KairosModel, clips: Tensor) -> Tensor:
    """One video's clip vectors [C,D] and segment vectors [S,D] as [C+S,D]: a video scores as its best key."""
    return torch.cat([clips, model.segments(clips)[0]])


def batch_keys(model: KairosModel, clips: Tensor, clip_mask: Tensor) -> list[Tensor]:
    """`video_keys` of each video of a batch, clips [B,C,D] with mask [B,C]; padding clips are left out."""
    return [video_keys(model, c[m]) for c, m in zip(clips, clip_mask, strict=True)]


def best_key_scores(queries: Tensor, keys: Sequence[Tensor]) -> Tensor:
    """Each query's [Q,D] best similarity among each video's keys: [Q,V], the scores VR ranks by."""
    return torch.stack([(queries @ k.t()).amax(dim=1) for k in keys], dim=1)


def said_vectors(model: KairosModel, batch: VideoBatch) -> Tensor | None:
    """`KairosModel.subtitle_vectors` of the batch's clips, padded to [B,C,D] (None without the skip)."""
    said = model.subtitle_vectors(batch.sub_tokens, batch.sub_mask)
    return None if said is None else batch.pad(said)


class Trainer:
    """Trains a KairosModel on `TrainData`; validates on another `TrainData` (its `pseudo` is not used)."""

    def __init__(
        self, model: KairosModel, config: TrainConfig, data: TrainData, val: TrainData | None = None
    ) -> None:
        if not data.videos or not len(data.queries):
            raise ValueError("training needs at least one video and one query")
        self.config = config
        self.device = torch.device(config.device)
        self.model = model.to(self.device)
        self.data = data
        self.val = val
        self.queries = data.queries if data.variants is None else cat_queries([data.queries, data.variants])
        self.phrasings = _phrasings(data)
        self.targets = Targets.build(self.queries, data.videos)
        self.pseudo_targets = Targets.build(data.pseudo, data.videos)
        self.queries_of = _members(data.queries.video, len(data.videos))
        self.lines_of = _members(data.pseudo.video, len(data.videos))
        decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": config.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=config.lr,
        )
        self.generator = torch.Generator().manual_seed(config.seed)
        sizes = [len(video_keys(model, torch.zeros(v.n_clips, 1))) for v in data.videos]
        self.bank = KeyBank(sizes, model.config.dim, self.device)
        self.state = TrainState()
        self.best_weights: dict[str, Tensor] | None = None
        self.visual_frozen = False
        self.n_hard = min(round(config.batch_videos * config.hard_negatives), config.batch_videos - 1)
        self.steps_per_epoch = math.ceil(len(data.videos) / (config.batch_videos - self.n_hard))

    def losses(self, index: Tensor) -> dict[str, Tensor]:
        """All enabled losses for the videos `index` [B], all their queries and some subtitle lines."""
        cfg, model = self.config, self.model
        batch = collate_videos([self.data.videos[i] for i in index.tolist()], self.device)
        states = encode_clip_states(model, batch)  # [B,C,hidden]
        context = model.video_level(states, batch.clip_mask)  # [B,C,D]
        clips = model.add_said(context, said_vectors(model, batch))
        # the pooled video vector (stage 1's `video` mode) learns how to pool the clips, not to shape them:
        # clips and queries are shaped by what VR ranks by, a video's best key (`best_key_scores`)
        videos = model.video_vector(clips.detach(), batch.clip_mask)  # [B,D]
        candidates = _Candidates(batch.clip_mask, clips, videos, batch_keys(model, clips, batch.clip_mask))
        q_index = self._phrased(torch.cat([self.queries_of[i] for i in index.tolist()]))
        q = model.encode_query(self.queries.select(q_index).text.to(self.device))  # [Q,D]
        self.bank.update(index, candidates.keys)

        others = torch.nonzero(~torch.isin(self.queries.video, index)).squeeze(1)
        sampled = others[torch.randperm(len(others), generator=self.generator)[: cfg.sampled_queries]]
        extra = model.encode_query(self.queries.select(sampled).text.to(self.device))  # [R,D]
        out = self._query_losses(self.queries, self.targets, q_index, q, index, candidates, extra)
        total = self._weighted(out)
        if cfg.vsm:
            lines = torch.cat(
                [_take(self.lines_of[i], cfg.vsm_lines, self.generator) for i in index.tolist()]
            )
            q_lines = model.encode_query(self.data.pseudo.select(lines).text.to(self.device))
            vsm = self._query_losses(
                self.data.pseudo, self.pseudo_targets, lines, q_lines, index, candidates, None
            )
            out["vsm"] = self._weighted(vsm)
            total = total + cfg.vsm_weight * out["vsm"]
        if cfg.mfm:
            out["mfm"] = self._mfm_loss(states, context, batch.clip_mask)
            total = total + cfg.mfm_weight * out["mfm"]
        out["total"] = total
        return out

    def _phrased(self, q_index: Tensor) -> Tensor:
        """Rows of `self.queries` to train on for the source queries `q_index`: each one, or with probability
        `variant_share` one of its shorter phrasings at random (where it has any)."""
        if self.data.variants is None:
            return q_index
        swap = torch.rand(len(q_index), generator=self.generator) < self.config.variant_share
        out = q_index.clone()
        for row in swap.nonzero().squeeze(1).tolist():
            options = self.phrasings[int(q_index[row])]
            if len(options):
                out[row] = options[int(torch.randint(len(options), (1,), generator=self.generator))]
        return out

    def _weighted(self, parts: dict[str, Tensor]) -> Tensor:
        """The query losses (video, clip, tag, pair) summed with their weights."""
        cfg = self.config
        return (
            cfg.video_weight * parts["video"]
            + cfg.pool_weight * parts["pool"]
            + cfg.clip_weight * parts["clip"]
            + cfg.tag_weight * parts["tag"]
            + cfg.pair_weight * parts["pair"]
        )

    def _query_losses(
        self,
        queries: QueryData,
        targets: Targets,
        q_index: Tensor,
        q: Tensor,
        video_index: Tensor,
        cand: _Candidates,
        extra_queries: Tensor | None,
    ) -> dict[str, Tensor]:
        """Video NCE (both ways), clip NCE and tag losses of the queries `q_index`, encoded as `q` [Q,D]."""
        cfg, model = self.config, self.model
        device = self.device
        owner_video = queries.video[q_index]
        local = (owner_video[:, None] == video_index[None, :]).float().argmax(dim=1).to(device)  # [Q]
        span = queries.span[q_index].to(device)

        video_pos = F.one_hot(local, len(cand.videos)).bool()  # [Q,B]
        extra_rows = None if extra_queries is None else best_key_scores(extra_queries, cand.keys)
        video_loss = symmetric_nce(
            best_key_scores(q, cand.keys), video_pos, cfg.temperature, extra_rows=extra_rows
        )
        # pooled vectors of detached clips, detached queries: this loss trains the pooling only
        extra_rows = None if extra_queries is None else extra_queries.detach() @ cand.videos.t()
        pool_scores = q.detach() @ cand.videos.t()
        pool_loss = symmetric_nce(pool_scores, video_pos, cfg.temperature, extra_rows=extra_rows)

        owner, position = cand.clip_mask.nonzero(as_tuple=True)  # [N] each, in the order of clips[clip_mask]
        clip_pos = (
            (owner[None, :] == local[:, None])
            & (position[None, :] >= span[:, :1])
            & (position[None, :] <= span[:, 1:])
        )  # [Q,N]
        clip_loss = info_nce(q @ cand.clips[cand.clip_mask].t(), clip_pos, cfg.temperature)

        c = cand.clip_mask.shape[1]
        mask = cand.clip_mask[local]  # [Q,C]
        unary, pair = model.moment_head(q, cand.clips[local], mask)
        tag, pair_loss = tag_losses(
            unary,
            pair,
            targets.unary[q_index, :c].to(device),
            targets.pair[q_index, : c - 1].to(device),
            mask,
        )
        if not model.config.use_pair_term:  # the pair logits are constant zeros: nothing to learn
            pair_loss = tag.new_zeros(())
        return {"video": video_loss, "pool": pool_loss, "clip": clip_loss, "tag": tag, "pair": pair_loss}

    def _mfm_loss(self, states: Tensor, clips: Tensor, clip_mask: Tensor) -> Tensor:
        """MFM-NCE: mask ~mfm_ratio of the clip states, rerun the video level, find each masked clip again."""
        chosen = mfm_positions(clip_mask.cpu(), self.config.mfm_ratio, self.generator).to(
            states.device
        )  # [B,C]
        masked = torch.where(chosen[..., None], self.model.hero.mask_embedding.to(states.dtype), states)
        predicted = self.model.video_level(masked, clip_mask)[chosen]  # [M,D]
        # [B,C]: the row of each clip in clips[clip_mask]
        flat_index = clip_mask.flatten().long().cumsum(0).view_as(clip_mask) - 1
        return mfm_nce(predicted, clips.detach()[clip_mask], flat_index[chosen], self.config.temperature)

    def _set_lr(self) -> None:
        """Linear warm-up, then cosine decay to a tenth of `lr` over the planned steps."""
        cfg, step = self.config, self.state.step
        total = max(cfg.epochs * self.steps_per_epoch, 1)
        warmup = max(1, round(cfg.warmup * total))
        if step < warmup:
            scale = (step + 1) / warmup
        else:
            progress = min(1.0, (step - warmup) / max(total - warmup, 1))
            scale = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * scale

    @torch.no_grad()
    def _with_hard_negatives(self, anchors: Tensor) -> Tensor:
        """The anchors plus the `n_hard` videos whose last-seen vectors best match the anchors' queries."""
        if self.n_hard == 0:
            return anchors
        q_index = torch.cat([self.queries_of[i] for i in anchors.tolist()])
        q = self.model.encode_query(self.queries.select(q_index).text.to(self.device))
        return torch.cat([anchors, self.bank.hardest(q, anchors, self.n_hard, self.generator)])

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training videos in a seeded random order; mean of each loss."""
        self.model.train()
        order = torch.randperm(len(self.data.videos), generator=self.generator)
        sums: dict[str, float] = {}
        bar = tqdm(
            order.split(self.config.batch_videos - self.n_hard),
            desc=f"epoch {self.state.epoch + 1}",
            disable=not self.config.progress,
            leave=False,
        )
        for anchors in bar:
            self._set_lr()
            out = self.losses(self._with_hard_negatives(anchors))
            self.optimizer.zero_grad(set_to_none=True)
            out["total"].backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.state.step += 1
            for name, value in out.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            bar.set_postfix(loss=f"{float(out['total'].detach()):.3f}")
        return {name: total / len(bar) for name, total in sums.items()}

    def fit(self, out: Path | None = None, resume: Path | None = None) -> TrainState:
        """Train until `epochs` or early stopping, each epoch saved to `out/last`; end on the best weights.

        `resume` is a `last` directory written by an earlier run of the same data and config.
        """
        if resume is not None:
            self.load_state(resume)
        else:
            torch.manual_seed(self.config.seed)
            if self.config.visual_pretrain_epochs:
                self.pretrain_visual()
                if out is not None:
                    self.save_state(out / "last")
        freeze_at = self.config.freeze_visual_after
        while self.state.epoch < self.config.epochs and not self.state.stopped:
            if freeze_at is not None and self.state.epoch >= freeze_at and not self.visual_frozen:
                self.freeze_visual()
            record: dict[str, Any] = {"epoch": self.state.epoch + 1, "loss": self.train_epoch()}
            self.state.epoch += 1
            record["step"] = self.state.step
            if self.val is not None and (
                self.state.epoch % self.config.eval_every == 0 or self.state.epoch == self.config.epochs
            ):
                record["metrics"] = self.validate()
            self.state.history.append(record)
            log.info("epoch %d: %s", self.state.epoch, json.dumps(record))
            if out is not None:
                self.save_state(out / "last")
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        return self.state

    def pretrain_visual(self) -> None:
        """The visual warm-up (`visual_pretrain_epochs`), before end-to-end training."""
        cfg = self.config
        self.state.visual_pretrain = pretrain_visual(
            self.model,
            self.data,
            cfg.visual_pretrain_epochs,
            batch=cfg.visual_pretrain_batch,
            lr=cfg.lr,
            generator=self.generator,
            progress=cfg.progress,
            hard_texts=cfg.visual_pretrain_hard_texts,
        )
        log.info("visual warm-up losses: %s", self.state.visual_pretrain)

    def freeze_visual(self) -> None:
        """Stop training the visual backbone: every video's frames become fixed features (cheap epochs)."""
        self.model.visual.requires_grad_(False)
        self.data = dataclasses.replace(self.data, videos=frame_features(self.model, self.data.videos))
        if self.val is not None:
            self.val = dataclasses.replace(self.val, videos=frame_features(self.model, self.val.videos))
        self.visual_frozen = True

    def validate(self) -> dict[str, float]:
        """Metrics on the validation data; tracks the best `monitor` value and early stopping."""
        assert self.val is not None
        metrics = retrieval_metrics(predict(self.model, self.val, self.config), self.val)
        value = metrics[self.config.monitor]
        if self.state.best is None or value > self.state.best:
            self.state.best, self.state.best_epoch, self.state.stale_evals = value, self.state.epoch, 0
            self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.state.stale_evals += 1
            self.state.stopped = self.state.stale_evals >= self.config.patience
        return metrics

    def save_state(self, directory: Path) -> None:
        """Model checkpoint + trainer state (optimizer, RNGs, memory bank, best weights), no pickle."""
        save_checkpoint(self.model, directory, {"epoch": self.state.epoch, "step": self.state.step})
        tensors, scalars = _flatten_optimizer(self.optimizer.state_dict())
        tensors |= self.bank.tensors()
        tensors["rng.generator"] = self.generator.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        for key, value in (self.best_weights or {}).items():
            tensors[f"best.{key}"] = value
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(directory / STATE_TENSORS)
        )
        state = dataclasses.asdict(self.state) | {
            "optimizer": scalars,
            "config": dataclasses.asdict(self.config),
        }
        (directory / STATE_JSON).write_text(json.dumps(state, indent=2))

    def load_state(self, directory: Path) -> None:
        """Restore everything `save_state` wrote, so the run continues as if never interrupted."""
        self.model.load_state_dict(load_checkpoint(directory).state_dict())
        tensors = load_file(str(directory / STATE_TENSORS), device=str(self.device))
        state = json.loads((directory / STATE_JSON).read_text())
        self.optimizer.load_state_dict(_unflatten_optimizer(tensors, state.pop("optimizer")))
        self.bank.load(tensors)
        self.generator.set_state(tensors["rng.generator"].cpu())
        torch.set_rng_state(tensors["rng.torch"].cpu())
        best = {k.removeprefix("best."): v for k, v in tensors.items() if k.startswith("best.")}
        self.best_weights = best or None
        state.pop("config")
        self.state = TrainState(**state)


@dataclass
class _Candidates:
    """What queries are contrasted with: the batch's clips [B,C,D] (mask [B,C]), pooled videos [B,D] and each
    video's keys (`batch_keys`, built once per step for the queries and the subtitle pseudo-queries)."""

    clip_mask: Tensor
    clips: Tensor
    videos: Tensor
    keys: list[Tensor]


def _phrasings(data: TrainData) -> list[Tensor]:
    """For each query of `data.queries`, the rows of its shorter phrasings in queries + variants."""
    if data.variants is None or data.variant_of is None:
        return [torch.zeros(0, dtype=torch.long)] * len(data.queries)
    rows = _members(data.variant_of, len(data.queries))
    return [r + len(data.queries) for r in rows]


def _members(owner: Tensor, n: int) -> list[Tensor]:
    """For each of n groups, the indices i with owner[i] == group."""
    order = torch.argsort(owner, stable=True)
    return list(order.split(torch.bincount(owner, minlength=n).tolist()))


def _take(index: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Up to k random elements of `index`."""
    return index[torch.randperm(len(index), generator=generator)[:k]]


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Optimizer state_dict -> (tensors keyed `opt.<param>.<name>`, JSON-able rest)."""
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for param, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"opt.{param}.{name}"] = value
            else:
                scalars["state"].setdefault(str(param), {})[name] = value
    return tensors, scalars


def _unflatten_optimizer(tensors: dict[str, Tensor], scalars: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `_flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in scalars["state"].items()}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, param, name = key.split(".", 2)
            state.setdefault(int(param), {})[name] = value
    return {"state": state, "param_groups": scalars["param_groups"]}


@dataclass
class Predictions:
    """Video scores [Q,V] (max over each video's clip and segment similarities) and, per query, its ranked
    moments in the gold video as seconds [n,2]."""

    scores: Tensor
    moments: list[Tensor]


@torch.no_grad()
def frame_features(model: KairosModel, videos: Sequence[VideoData], chunk: int = 512) -> list[VideoData]:
    """The videos with uint8 frames [C,F,H,W,3] replaced by the backbone's frame features [C,F,Dv]."""
    model.eval()
    out = []
    for video in videos:
        if video.frames.dtype != torch.uint8:  # features already
            out.append(video)
            continue
        c, f = video.frame_mask.shape
        flat = video.frames.flatten(0, 1)  # [C*F,H,W,3]
        feats = torch.cat(
            [model.encode_frames(flat[i : i + chunk]).cpu() for i in range(0, len(flat), chunk)]
        )
        out.append(dataclasses.replace(video, frames=feats.view(c, f, -1)))  # [C*F,Dv] -> [C,F,Dv]
    return out


@torch.no_grad()
def encode_videos(model: KairosModel, videos: Sequence[VideoData], batch_videos: int) -> list[Tensor]:
    """Clip vectors [C,D] of every video, the clip level batched over all clips of `batch_videos` videos."""
    model.eval()
    out: list[Tensor] = []
    for start in range(0, len(videos), batch_videos):
        batch = collate_videos(videos[start : start + batch_videos], model.device)
        context = model.video_level(encode_clip_states(model, batch), batch.clip_mask)  # [B,C,D]
        clips = model.add_said(context, said_vectors(model, batch))
        out += [c[m] for c, m in zip(clips, batch.clip_mask, strict=True)]
    return out


@torch.no_grad()
def predict(model: KairosModel, data: TrainData, config: TrainConfig) -> Predictions:
    """VR scores of every query against every video of `data`; SVMR moments in each query's gold video."""
    clips = encode_videos(model, data.videos, config.eval_batch_videos)
    q = model.encode_query(data.queries.text.to(model.device))  # [Q,D]
    keys = [video_keys(model, c) for c in clips]
    owner = torch.repeat_interleave(torch.arange(len(keys)), torch.tensor([len(k) for k in keys])).to(
        q.device
    )
    sims = q @ torch.cat(keys).t()  # [Q,T]
    scores = torch.full((len(q), len(keys)), float("-inf"), device=q.device)
    scores = scores.scatter_reduce(1, owner.expand_as(sims), sims, reduce="amax")  # [Q,V]
    moments: list[Tensor] = [torch.zeros(0, 2)] * len(q)
    for v, members in enumerate(_members(data.queries.video, len(clips))):
        if not len(members):
            continue
        c = clips[v]
        mask = torch.ones(len(members), len(c), dtype=torch.bool, device=c.device)
        unary, pair = model.moment_head(q[members], c.expand(len(members), -1, -1), mask)
        for row, query in enumerate(members.tolist()):
            spans = model.decode_moments(
                unary[row], pair[row], top_n=config.top_n, max_clips=config.max_clips, nms_iou=config.nms_iou
            )
            seconds = [spans_to_seconds(s, model.config.clip_seconds, data.videos[v].duration) for s in spans]
            moments[query] = torch.tensor(seconds, dtype=torch.float32).view(-1, 2)
    return Predictions(scores.cpu(), moments)


def retrieval_metrics(pred: Predictions, data: TrainData, index: Tensor | None = None) -> dict[str, float]:
    """VR R@1/5/10, SVMR R@1/5 at IoU 0.5/0.7 and `score` (mean of VR R@1 and SVMR R@1 IoU 0.5).

    `index` restricts to some queries (e.g. one query type).
    """
    index = torch.arange(len(data.queries)) if index is None else index
    metrics = video_recall(pred.scores[index], data.queries.video[index])
    metrics |= moment_recall([pred.moments[i] for i in index.tolist()], data.queries.seconds[index])
    metrics["score"] = (metrics["vr_r1"] + metrics["svmr_r1_iou0.5"]) / 2
    return metrics
