"""Visual warm-up: CLIP-style contrastive training of the visual backbone on the annotated moments' frames.

Each step takes a batch of queries and one random clip inside each query's moment. The clip's frames go
through the backbone; the frame features, concatenated in order so that motion stays readable, and the
query's frozen sentence vector are each projected to a common space, and the two must find each other in
the batch (symmetric InfoNCE; queries with the same text are positives of each other). The projections are
thrown away afterwards. With `motion_cues` the clip level's motion reader is trained here too: its vector of
the frames, projected, is added to theirs. A step encodes one clip per query instead of every frame of a few
videos, so the backbone gets many more updates per second than end-to-end training gives it. Subtitle-only
queries (type `t`) are left out: their clips need not show what they say. Queries of the same moment (same
video, overlapping spans) are positives of each other, as are queries with the same text.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from models.data import QueryData, TrainData
from models.losses import symmetric_nce
from models.model import KairosModel

SPOKEN_ONLY = "t"  # query type whose moment is found by its words, not its pixels
SAME_TEXT = 0.999  # cosine above which two query sentences count as the same text


class _Projections(nn.Module):
    """Throw-away heads that map a clip's frame features and a sentence vector into one space."""

    def __init__(self, model: KairosModel, dim: int = 256) -> None:
        super().__init__()
        cfg = model.config
        self.visual = nn.Linear(cfg.frames_per_clip * cfg.visual_dim, dim)
        self.motion = nn.Linear(cfg.hidden, dim) if model.hero.motion is not None else None
        self.text = nn.Linear(cfg.text_dim, dim)


def visual_queries(data: TrainData) -> Tensor:
    """Indices of the queries whose moment can be seen: all but the subtitle-only ones."""
    return torch.tensor(
        [i for i, kind in enumerate(data.queries.kind) if kind != SPOKEN_ONLY], dtype=torch.long
    )


def pretrain_visual(
    model: KairosModel,
    data: TrainData,
    epochs: int,
    batch: int = 64,
    lr: float = 1e-3,
    temperature: float = 0.07,
    generator: torch.Generator | None = None,
    progress: bool = False,
    hard_texts: int = 0,
) -> list[float]:
    """Train `model.visual` for `epochs` passes over the visible queries; the mean loss of each epoch.

    `data.videos` must still hold uint8 frames. `hard_texts`: nearest other-video sentences per query added as
    negatives (module docstring). `progress` shows a bar of the steps.
    """
    if any(video.frames.dtype != torch.uint8 for video in data.videos):
        raise ValueError("visual pre-training needs decoded frames, not precomputed frame features")
    queries = visual_queries(data)
    if len(queries) < 2:
        raise ValueError(
            f"visual pre-training needs at least 2 queries that are not type 't', got {len(queries)}"
        )
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    device = model.device
    heads = _Projections(model).to(device)
    motion = [] if model.hero.motion is None else list(model.hero.motion.parameters())
    params = [p for p in model.visual.parameters() if p.requires_grad] + motion + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    neighbours = text_neighbours(data.queries, hard_texts) if hard_texts else None
    model.visual.train()
    losses = []
    bar = tqdm(total=epochs * math.ceil(len(queries) / batch), desc="visual warm-up", disable=not progress)
    for _ in range(epochs):
        total, steps = 0.0, 0
        for chosen in queries[torch.randperm(len(queries), generator=generator)].split(batch):
            bar.update(1)
            if len(chosen) < 2:
                continue
            near = None if neighbours is None else hard_captions(data, neighbours, chosen)
            loss = _step_loss(model, heads, data, chosen, near, temperature, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        losses.append(total / max(steps, 1))
    bar.close()
    model.visual.eval()
    return losses


def _step_loss(
    model: KairosModel,
    heads: _Projections,
    data: TrainData,
    chosen: Tensor,
    near: Tensor | None,
    temperature: float,
    generator: torch.Generator,
) -> Tensor:
    """Symmetric InfoNCE between one random clip inside each chosen query's moment and the query; the queries
    `near` (if any) are extra negatives of the clips."""
    q = data.queries
    clips = []
    for i in chosen.tolist():
        start, end = q.span[i].tolist()
        clip = start + int(torch.randint(end - start + 1, (1,), generator=generator))
        clips.append(data.videos[int(q.video[i])].frames[clip])  # [F,H,W,3]
    frames = torch.stack(clips)  # [B,F,H,W,3]
    b, f = frames.shape[:2]
    feats = model.encode_frames(frames.flatten(0, 1)).view(b, f, -1)  # [B,F,Dv]
    seen = heads.visual(feats.flatten(1))  # [B,F*Dv] -> [B,256]
    if heads.motion is not None and model.hero.motion is not None:
        seen = seen + heads.motion(model.hero.motion(feats, feats.new_ones(b, f, dtype=torch.bool)))
    seen = F.normalize(seen, dim=-1)
    sentences = q.text.pooled[chosen].to(model.device).float()  # [B,Dt]
    said = F.normalize(heads.text(sentences), dim=-1)
    same = positives(data, chosen).to(model.device)
    if near is None or not len(near):
        return symmetric_nce(seen @ said.t(), same, temperature)
    others = F.normalize(heads.text(q.text.pooled[near].to(model.device).float()), dim=-1)  # [R,256]
    return symmetric_nce(said @ seen.t(), same.t(), temperature, extra_rows=others @ seen.t())


def text_neighbours(queries: QueryData, k: int, chunk: int = 1024) -> Tensor:
    """For each query, the k queries [Q,k] whose sentence vectors are nearest to it, other videos' first;
    where fewer than k queries of other videos exist, the rest are queries of its own video."""
    pooled = F.normalize(queries.text.pooled.float(), dim=-1)
    k = min(k, len(pooled))
    out = []
    for start in range(0, len(pooled), chunk):
        sims = pooled[start : start + chunk] @ pooled.t()  # [chunk,Q]
        same = queries.video[start : start + chunk, None] == queries.video[None, :]
        out.append(sims.masked_fill(same, -2.0).topk(k, dim=1).indices)
    return torch.cat(out)


def hard_captions(data: TrainData, neighbours: Tensor, chosen: Tensor) -> Tensor:
    """The chosen queries' text neighbours ([Q,k] rows of `text_neighbours`) that no chosen query is related
    to: other videos' sentences nearest to the batch's, as negatives."""
    near = neighbours[chosen].flatten().unique()
    return near[~related(data, near, chosen).any(dim=1)]


def positives(data: TrainData, chosen: Tensor) -> Tensor:
    """[B,B] True where two chosen queries share their text or their moment (video, overlapping spans)."""
    return related(data, chosen, chosen)


def related(data: TrainData, a: Tensor, b: Tensor) -> Tensor:
    """[A,B] True where queries a[i] and b[j] share their text or their moment (video, overlapping spans)."""
    q = data.queries
    left, right = q.text.pooled[a].float(), q.text.pooled[b].float()
    span_a, span_b = q.span[a], q.span[b]
    overlap = (span_a[:, None, 0] <= span_b[None, :, 1]) & (span_b[None, :, 0] <= span_a[:, None, 1])
    return (left @ right.t() > SAME_TEXT) | ((q.video[a][:, None] == q.video[b][None, :]) & overlap)
