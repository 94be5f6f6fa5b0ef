"""Visual warm-up: CLIP-style contrastive training of the visual backbone on the annotated moments' frames.

Each step takes a batch of queries and one random clip inside each query's moment. The clip's frames go
through the backbone; the frame features, concatenated in order so that motion stays readable, and the
query's frozen sentence vector are each projected to a common space, and the two must find each other in
the batch (symmetric InfoNCE; queries with the same text are positives of each other). The projections are
thrown away afterwards. A step encodes one clip per query instead of every frame of a few videos, so the
backbone gets many more updates per second than end-to-end training gives it. Subtitle-only queries (type
`t`) are left out: their clips need not show what they say.

With `group > 1` a batch is made of groups of text neighbours: a random query and `group - 1` of the queries
whose sentences are nearest to it ("a red square spins" next to "a red hexagon spins"), so telling them apart
takes reading the attribute they differ in. Random batches rarely hold such pairs: colour alone separates most
of them. Grouped batches take only queries of type `v`: the visible part of a `v`+`t` query ("a red square
spins while Ann talks about rain") need not be unique, so its text neighbour ("a red square spins") may show
the very same thing elsewhere and would be a false negative. Queries of the same moment (same video,
overlapping spans) count as positives of each other.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from models.data import TrainData
from models.losses import symmetric_nce
from models.model import KairosModel

SPOKEN_ONLY = "t"  # query type whose moment is found by its words, not its pixels
SEEN_ONLY = "v"  # query type whose text names only what can be seen
SAME_TEXT = 0.999  # cosine above which two query sentences count as the same text
NEIGHBOURS = 32  # a group's members are drawn from this many nearest sentences of its first query


class _Projections(nn.Module):
    """Throw-away heads that map a clip's frame features and a sentence vector into one space."""

    def __init__(self, model: KairosModel, dim: int = 256) -> None:
        super().__init__()
        cfg = model.config
        self.visual = nn.Linear(cfg.frames_per_clip * cfg.visual_dim, dim)
        self.text = nn.Linear(cfg.text_dim, dim)


def visual_queries(data: TrainData, seen_only: bool = False) -> Tensor:
    """Indices of the queries whose moment can be seen: all but the subtitle-only ones, or (`seen_only`)
    only those of type `v`."""
    keep = [kind == SEEN_ONLY if seen_only else kind != SPOKEN_ONLY for kind in data.queries.kind]
    return torch.tensor([i for i, kept in enumerate(keep) if kept], dtype=torch.long)


def pretrain_visual(
    model: KairosModel,
    data: TrainData,
    epochs: int,
    batch: int = 64,
    lr: float = 1e-3,
    temperature: float = 0.07,
    generator: torch.Generator | None = None,
    progress: bool = False,
    group: int = 1,
) -> list[float]:
    """Train `model.visual` for `epochs` passes over the visible queries; the mean loss of each epoch.

    `data.videos` must still hold uint8 frames. `progress` shows a bar of the steps. `group` > 1 builds
    batches of text neighbours (see the module docstring); an epoch has the same number of steps either way.
    """
    if not 1 <= group <= batch:
        raise ValueError(
            f"visual pre-training group must be between 1 and the batch size {batch}, got {group}"
        )
    if any(video.frames.dtype != torch.uint8 for video in data.videos):
        raise ValueError("visual pre-training needs decoded frames, not precomputed frame features")
    queries = visual_queries(data, seen_only=group > 1)
    if len(queries) < 2:
        kinds = "of type 'v'" if group > 1 else "that are not type 't'"
        raise ValueError(f"visual pre-training needs at least 2 queries {kinds}, got {len(queries)}")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    neighbours = nearest_sentences(data.queries.text.pooled[queries].float()) if group > 1 else None
    device = model.device
    heads = _Projections(model).to(device)
    params = [p for p in model.visual.parameters() if p.requires_grad] + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    model.visual.train()
    losses = []
    bar = tqdm(total=epochs * math.ceil(len(queries) / batch), desc="visual warm-up", disable=not progress)
    for _ in range(epochs):
        total, steps = 0.0, 0
        for chosen in epoch_batches(queries, neighbours, batch, group, generator):
            bar.update(1)
            if len(chosen) < 2:
                continue
            loss = _step_loss(model, heads, data, chosen, temperature, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        losses.append(total / max(steps, 1))
    bar.close()
    model.visual.eval()
    return losses


def nearest_sentences(pooled: Tensor, chunk: int = 1024) -> Tensor:
    """[N, k] positions of each sentence's nearest other sentences (cosine), nearest first."""
    k = min(NEIGHBOURS, len(pooled) - 1)
    unit = F.normalize(pooled, dim=-1)
    rows = []
    for start in range(0, len(unit), chunk):
        sims = unit[start : start + chunk] @ unit.t()  # [c,N]
        sims[torch.arange(len(sims)), torch.arange(start, start + len(sims))] = -2.0  # not itself
        rows.append(sims.topk(k, dim=1).indices)
    return torch.cat(rows)


def epoch_batches(
    queries: Tensor, neighbours: Tensor | None, batch: int, group: int, generator: torch.Generator
) -> list[Tensor]:
    """One epoch of batches: random (no `neighbours`) or groups of a random query and its text neighbours."""
    order = torch.randperm(len(queries), generator=generator)
    if neighbours is None:
        return list(queries[order].split(batch))
    steps, per_batch = math.ceil(len(queries) / batch), batch // group
    batches = []
    for anchors in order[: steps * per_batch].split(per_batch):
        order_within = torch.rand(len(anchors), neighbours.shape[1], generator=generator).argsort(dim=1)
        picks = order_within[:, : group - 1]  # group - 1 random neighbours of each anchor
        members = torch.cat([anchors[:, None], neighbours[anchors[:, None], picks]], dim=1)  # [A,group]
        batches.append(queries[members.flatten().unique()])
    return batches


def _step_loss(
    model: KairosModel,
    heads: _Projections,
    data: TrainData,
    chosen: Tensor,
    temperature: float,
    generator: torch.Generator,
) -> Tensor:
    """Symmetric InfoNCE between one random clip inside each chosen query's moment and the query."""
    q = data.queries
    clips = []
    for i in chosen.tolist():
        start, end = q.span[i].tolist()
        clip = start + int(torch.randint(end - start + 1, (1,), generator=generator))
        clips.append(data.videos[int(q.video[i])].frames[clip])  # [F,H,W,3]
    frames = torch.stack(clips)  # [B,F,H,W,3]
    b, f = frames.shape[:2]
    feats = model.encode_frames(frames.flatten(0, 1)).view(b, f * model.config.visual_dim)  # [B,F*Dv]
    seen = F.normalize(heads.visual(feats), dim=-1)
    sentences = q.text.pooled[chosen].to(model.device).float()  # [B,Dt]
    said = F.normalize(heads.text(sentences), dim=-1)
    return symmetric_nce(seen @ said.t(), positives(data, chosen).to(model.device), temperature)


def positives(data: TrainData, chosen: Tensor) -> Tensor:
    """[B,B] True where two chosen queries share their text or their moment (video, overlapping spans)."""
    q = data.queries
    sentences = q.text.pooled[chosen].float()
    video, span = q.video[chosen], q.span[chosen]
    overlap = (span[:, None, 0] <= span[None, :, 1]) & (span[None, :, 0] <= span[:, None, 1])
    return (sentences @ sentences.t() > SAME_TEXT) | ((video[:, None] == video[None, :]) & overlap)
