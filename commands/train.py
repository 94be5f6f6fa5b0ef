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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from indexer.annotations import QUERY_TYPES
from indexer.dataset import FeatureSource, build_dataset
from models.checkpoint import init_from, load_checkpoint, read_checkpoint_config, save_checkpoint
from models.config import ModelConfig
from models.data import TrainData
from models.registry import create_model, get_config
from models.train import Predictions, TrainConfig, Trainer, predict, retrieval_metrics

log = logging.getLogger(__name__)

RECIPE = "recipe.json"
MACHINE_SETTINGS = ("device", "progress")  # TrainConfig fields that say where a run ran, not what it did


def train(
    corpus: Path | FeatureSource,
    annotations: Path,
    out: Path,
    model: str = "kairos-small",
    val_annotations: Path | None = None,
    settings: Mapping[str, Any] | None = None,
    resume: Path | None = None,
    init: Path | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Train `model` (a registered name) on `annotations` (TVR or QVHighlights jsonl) of the videos of
    `corpus` (video files or precomputed features), validating on `val_annotations`; write `out`.

    `settings` sets `TrainConfig` fields by name; the rest keep its defaults (the bundled model's recipe).
    `out` gets the best checkpoint (config.json + model.safetensors, `extra` = data, command, metrics, time),
    its `recipe.json` (every setting, `recipe`) and `out/last` (the latest epoch with the trainer state,
    what `resume` takes). With `resume`, the architecture comes from that checkpoint; with `init`, `model`'s
    architecture starts from that checkpoint's weights (parameters it lacks keep their initial values).
    """
    started = time.monotonic()
    config = train_config(settings or {})
    seed = config.seed
    torch.manual_seed(seed)
    if resume is not None:
        net = create_model(ModelConfig.from_dict(read_checkpoint_config(resume)["architecture"]))
    else:  # a zero-shot architecture (kairos-real) trains the parts it leaves unused
        net = create_model(dataclasses.replace(get_config(model), zero_shot=False))
        if init is not None:
            log.info("from %s; new: %s", init, init_from(net, init) or "none")
    data = build_dataset(
        corpus,
        annotations,
        net,
        cache,
        pseudo_queries=config.vsm,
        progress=config.progress,
        query_variants=config.query_variants,
        rewordings=config.rewordings,
        reword_synonyms=config.reword_synonyms,
        reword_dropout=config.reword_dropout,
    )
    val = None
    if val_annotations is not None:
        val = build_dataset(
            corpus, val_annotations, net, cache, pseudo_queries=False, progress=config.progress
        )
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
            "init": None if init is None else str(init),
            "data_seed": _corpus_seed(corpus),
            "videos": len(data.videos),
            "queries": len(data.queries),
            "pseudo_queries": len(data.pseudo),
        },
        "command": _command(corpus, annotations, out, net.config.name, val_annotations, config, resume, init),
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
    write_recipe(out, recipe(net.config.name, init, config, corpus, annotations, val_annotations))
    log.info("wrote %s (best epoch %s, %s)", out, state.best_epoch, metrics)
    return {"checkpoint": str(out)} | {
        k: extra[k] for k in ("data", "epochs_run", "best_epoch", "metrics", "seconds")
    }


def recipe(
    model: str,
    init: Path | None,
    config: TrainConfig,
    corpus: Path | FeatureSource,
    annotations: Path,
    val_annotations: Path | None,
) -> dict[str, Any]:
    """Every setting of a training run, as data: the architecture's name, what it started from (the recipe
    of `init` where it has one, else its path), every `TrainConfig` field but the machine's (device,
    progress) and the data (annotation files relative to the corpus, the generator's settings of a
    synthetic corpus)."""
    base: dict[str, Any] | str | None = None
    if init is not None:
        base = read_recipe(init / RECIPE) if (init / RECIPE).is_file() else str(init)
    folder = _folder(corpus)
    manifest = folder / "corpus.json"
    synth = json.loads(manifest.read_text()).get("config") if manifest.is_file() else None
    return {
        "model": model,
        "init": base,
        "train": {k: v for k, v in dataclasses.asdict(config).items() if k not in MACHINE_SETTINGS},
        "data": {
            "synth": synth,
            "annotations": _relative(annotations, folder),
            "val_annotations": None if val_annotations is None else _relative(val_annotations, folder),
        },
    }


def write_recipe(directory: Path, data: Mapping[str, Any]) -> Path:
    """`directory/recipe.json`."""
    path = directory / RECIPE
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read_recipe(path: Path) -> dict[str, Any]:
    """A recipe file (`recipe`), checked: its training settings must all be `TrainConfig` fields."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable recipe ({exc})") from exc
    if not isinstance(data, dict) or not {"model", "train", "data"} <= set(data):
        raise ValueError(f"{path}: not a recipe (needs model, train, data; see {RECIPE} of a checkpoint)")
    try:
        train_config(data["train"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return data


def _relative(path: Path, folder: Path) -> str:
    """`path` relative to `folder` when inside it, else as given."""
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path)


def train_config(settings: Mapping[str, Any]) -> TrainConfig:
    """A `TrainConfig` with `settings` (field name -> value, e.g. from a recipe or `--set`) over its
    defaults; an unknown name or a value of the wrong type is a ValueError naming it."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    if unknown := sorted(set(settings) - set(fields)):
        raise ValueError(f"unknown training setting(s): {', '.join(unknown)}; known: {', '.join(fields)}")
    defaults = TrainConfig()
    for name, value in settings.items():
        default = getattr(defaults, name)
        kinds = (int, float) if isinstance(default, float) else (type(default),)
        if (
            value is not None
            and default is not None
            and (not isinstance(value, kinds) or isinstance(value, bool) != isinstance(default, bool))
        ):
            raise ValueError(f"training setting {name}={value!r}: expected {type(default).__name__}")
    return TrainConfig(**settings)


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
    init: Path | None = None,
) -> str:
    """The `kairos train` command line that reproduces this run (`--set` for each non-default setting)."""
    if isinstance(corpus, FeatureSource):
        args = ["kairos", "train", "--features", str(corpus.folder)]
        args += [] if corpus.fps is None else ["--features-fps", f"{corpus.fps:g}"]
    else:
        args = ["kairos", "train", "--corpus", str(corpus)]
    args += ["--annotations", str(annotations), "--out", str(out), "--model", model]
    if val_annotations is not None:
        args += ["--val-annotations", str(val_annotations)]
    for flag, path in (("--resume", resume), ("--init", init)):
        args += [] if path is None else [flag, str(path)]
    defaults = TrainConfig()
    for name, value in dataclasses.asdict(config).items():
        if name not in MACHINE_SETTINGS and value != getattr(defaults, name):
            args += ["--set", f"{name}={json.dumps(value)}"]
    return shlex.join(args)
