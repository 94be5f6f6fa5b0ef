"""Visual warm-up: CLIP-style contrastive training of the visual backbone on the annotated moments' frames.

Each step takes a batch of queries and one random clip inside each query's moment. The clip's frames go
through the backbone; the frame features, concatenated in order so that motion stays readable, and the
query's frozen sentence vector are each projected to a common space, and the two must find each other in
the batch (symmetric InfoNCE; queries with the same text are positives of each other). The projections are
thrown away afterwards. A step encodes one clip per query instead of every frame of a few videos, so the
backbone gets many more updates per second than end-to-end training gives it. Subtitle-only queries (type
`t`) are left out: their clips need not show what they say. Queries of the same moment (same video,
overlapping spans) are positives of each other, as are queries with the same text.
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
SAME_TEXT = 0.999  # cosine above which two query sentences count as the same text


class _Projections(nn.Module):
    """Throw-away heads that map a clip's frame features and a sentence vector into one space."""

    def __init__(self, model: KairosModel, dim: int = 256) -> None:
        super().__init__()
        cfg = model.config
        self.visual = nn.Linear(cfg.frames_per_clip * cfg.visual_dim, dim)
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
) -> list[float]:
    """Train `model.visual` for `epochs` passes over the visible queries; the mean loss of each epoch.

    `data.videos` must still hold uint8 frames. `progress` shows a bar of the steps.
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
    params = [p for p in model.visual.parameters() if p.requires_grad] + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    model.visual.train()
    losses = []
    bar = tqdm(total=epochs * math.ceil(len(queries) / batch), desc="visual warm-up", disable=not progress)
    for _ in range(epochs):
        total, steps = 0.0, 0
        for chosen in queries[torch.randperm(len(queries), generator=generator)].split(batch):
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
