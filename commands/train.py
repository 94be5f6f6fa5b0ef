"""What `kairos train` runs: build the datasets (videos or precomputed features), train, write the checkpoint;
or evaluate one.

No CLI framework here: `commands.cli` parses the options and calls `train(...)` / `evaluate(...)`, which
return JSON-able dicts.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
import time
from pathlib import Path
from typing import Any

import torch

from indexer.annotations import QUERY_TYPES
from indexer.dataset import FeatureSource, build_dataset
from models.checkpoint import load_checkpoint, read_checkpoint_config, save_checkpoint
from models.config import ModelConfig
from models.data import TrainData
from models.registry import create_model, get_config
from models.train import Predictions, TrainConfig, Trainer, predict, retrieval_metrics

log = logging.getLogger(__name__)


def train(
    corpus: Path | FeatureSource,
    annotations: Path,
    out: Path,
    model: str = "kairos-small",
    val_annotations: Path | None = None,
    epochs: int | None = None,
    batch: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    resume: Path | None = None,
    vsm: bool = True,
    mfm: bool = True,
    freeze_visual_after: int | None = None,
    visual_pretrain_epochs: int | None = None,
    cache: Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Train `model` (a registered name) on `annotations` (TVR or QVHighlights jsonl) of the videos of
    `corpus` (video files or precomputed features), validating on `val_annotations`; write `out`.

    `out` gets the best checkpoint (config.json + model.safetensors, `extra` = data, command, metrics, time)
    and `out/last` (the latest epoch with the trainer state, what `resume` takes). Options left as None take
    the `TrainConfig` defaults. With `resume`, the architecture comes from that checkpoint.
    """
    started = time.monotonic()
    config = TrainConfig(seed=seed, vsm=vsm, mfm=mfm, device=device, progress=progress)
    if epochs is not None:
        config.epochs = epochs
    if batch is not None:
        config.batch_videos = batch
    if lr is not None:
        config.lr = lr
    if freeze_visual_after is not None:
        config.freeze_visual_after = freeze_visual_after
    if visual_pretrain_epochs is not None:
        config.visual_pretrain_epochs = visual_pretrain_epochs
    torch.manual_seed(seed)
    if resume is not None:
        net = create_model(ModelConfig.from_dict(read_checkpoint_config(resume)["architecture"]))
    else:  # a zero-shot architecture (kairos-real) trains the parts it leaves unused
        net = create_model(dataclasses.replace(get_config(model), zero_shot=False))
    data = build_dataset(
        corpus,
        annotations,
        net,
        cache,
        pseudo_queries=vsm,
        progress=progress,
        query_variants=config.query_variants,
    )
    val = None
    if val_annotations is not None:
        val = build_dataset(corpus, val_annotations, net, cache, pseudo_queries=False, progress=progress)
    prepared = time.monotonic()
    state = Trainer(net, config, data, val).fit(out, resume)
    trained = time.monotonic()
    metrics = next(
        (r["metrics"] for r in state.history if r["epoch"] == state.best_epoch and "metrics" in r), None
    )
    extra = {
        "data": {
            "corpus": str(_folder(corpus)),
            "features_fps": _features_fps(corpus, net.config.fps),
            "annotations": str(annotations),
            "val_annotations": None if val_annotations is None else str(val_annotations),
            "data_seed": _corpus_seed(corpus),
            "videos": len(data.videos),
            "queries": len(data.queries),
            "pseudo_queries": len(data.pseudo),
        },
        "command": _command(corpus, annotations, out, net.config.name, val_annotations, config, resume),
        "train": dataclasses.asdict(config),
        "epochs_run": state.epoch,
        "steps": state.step,
        "best_epoch": state.best_epoch,
        "metrics": metrics,
        "history": state.history,
        "visual_pretrain": state.visual_pretrain,
        "seconds": {"data": round(prepared - started, 1), "training": round(trained - prepared, 1)},
    }
    save_checkpoint(net, out, extra)
    log.info("wrote %s (best epoch %s, %s)", out, state.best_epoch, metrics)
    return {"checkpoint": str(out)} | {
        k: extra[k] for k in ("data", "epochs_run", "best_epoch", "metrics", "seconds")
    }


def evaluate(
    checkpoint: Path,
    corpus: Path | FeatureSource,
    annotations: Path,
    cache: Path | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """VR R@1/5/10 and SVMR R@1/5 at IoU 0.5/0.7 of `checkpoint` on `annotations`, overall and per query type.

    VR ranks each query's gold video among the videos the annotation file names (TVR's convention).
    """
    model = load_checkpoint(checkpoint, device)
    trained_with = read_checkpoint_config(checkpoint)["extra"].get("train", {})
    decode = {k: trained_with[k] for k in ("top_n", "max_clips", "nms_iou") if k in trained_with}
    data = build_dataset(corpus, annotations, model, cache, pseudo_queries=False)
    pred = predict(model, data, TrainConfig(device=device, **decode))
    return {
        "checkpoint": str(checkpoint),
        "annotations": str(annotations),
        "videos": len(data.videos),
        "queries": len(data.queries),
        "metrics": retrieval_metrics(pred, data),
        "by_type": _by_type(pred, data),
    }


def _by_type(pred: Predictions, data: TrainData) -> dict[str, dict[str, float]]:
    """Metrics per TVR query type (v / t / vt) present in the data."""
    kinds = data.queries.kind
    out = {}
    for kind in QUERY_TYPES:
        index = torch.tensor([i for i, k in enumerate(kinds) if k == kind], dtype=torch.long)
        if len(index):
            out[kind] = retrieval_metrics(pred, data, index) | {"queries": float(len(index))}
    return out


def _folder(corpus: Path | FeatureSource) -> Path:
    """The corpus or features folder."""
    return corpus.folder if isinstance(corpus, FeatureSource) else corpus


def _features_fps(corpus: Path | FeatureSource, model_fps: float) -> float | None:
    """The rate the features were read at (None: a corpus of videos)."""
    if not isinstance(corpus, FeatureSource):
        return None
    return corpus.fps or model_fps


def _corpus_seed(corpus: Path | FeatureSource) -> int | None:
    """The generator seed of a synthetic corpus (`corpus.json`), None for other corpora."""
    manifest = _folder(corpus) / "corpus.json"
    if not manifest.is_file():
        return None
    seed = json.loads(manifest.read_text()).get("seed")
    return seed if isinstance(seed, int) else None


def _command(
    corpus: Path | FeatureSource,
    annotations: Path,
    out: Path,
    model: str,
    val_annotations: Path | None,
    config: TrainConfig,
    resume: Path | None,
) -> str:
    """The `kairos train` command line that reproduces this run."""
    if isinstance(corpus, FeatureSource):
        args = ["kairos", "train", "--features", str(corpus.folder)]
        args += [] if corpus.fps is None else ["--features-fps", f"{corpus.fps:g}"]
    else:
        args = ["kairos", "train", "--corpus", str(corpus)]
    args += ["--annotations", str(annotations), "--out", str(out)]
    args += ["--model", model, "--epochs", str(config.epochs), "--batch", str(config.batch_videos)]
    args += ["--lr", str(config.lr), "--seed", str(config.seed)]
    if val_annotations is not None:
        args += ["--val-annotations", str(val_annotations)]
    if config.freeze_visual_after is not None:
        args += ["--freeze-visual-after", str(config.freeze_visual_after)]
    if config.visual_pretrain_epochs:
        args += ["--visual-pretrain-epochs", str(config.visual_pretrain_epochs)]
    if resume is not None:
        args += ["--resume", str(resume)]
    args += [] if config.vsm else ["--no-vsm"]
    args += [] if config.mfm else ["--no-mfm"]
    return shlex.join(args)
