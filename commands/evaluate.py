"""`kairos eval`: TVR metrics of a snapshot for TVR or QVHighlights queries, through the search pipeline."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from commands.evaluation import run_evaluation
from indexer.annotations import AnnotationError, read_annotations
from indexer.snapshot import ModelMismatchError, Snapshot, SnapshotError, open_snapshot
from models.pretrained import model_fingerprint, resolve_model
from service.cache import Cache, connect
from service.metrics import Metrics
from service.search import SearchPipeline
from service.settings import MAX_QUERY_CHARS, Settings

log = logging.getLogger(__name__)


class EvalError(Exception):
    """The evaluation cannot run: bad query file, no usable query, or a snapshot the model cannot read."""


def read_queries(path: Path) -> list[dict[str, Any]]:
    """TVR or QVHighlights jsonl as TVR ground-truth rows; a bad line is an `EvalError` naming it."""
    try:
        records = read_annotations(path)
    except AnnotationError as exc:
        raise EvalError(str(exc)) from exc
    for record in records:
        if len(record.text) > MAX_QUERY_CHARS:
            raise EvalError(f"{path}:{record.line}: the query is longer than {MAX_QUERY_CHARS} characters")
    return [record.tvr_row() for record in records]


def _indexed(rows: list[dict[str, Any]], snap: Snapshot, queries: Path) -> list[dict[str, Any]]:
    """The rows whose video is in the snapshot; the others are counted in a warning."""
    kept = [row for row in rows if row["vid_name"] in snap]
    if not kept:
        raise EvalError(
            f"none of the {len(rows)} queries in {queries} has its video in snapshot {snap.version} "
            f"(e.g. {rows[0]['vid_name']!r})"
        )
    if len(kept) < len(rows):
        log.warning(
            "%d of %d queries in %s are excluded: their video is not in snapshot %s",
            len(rows) - len(kept),
            len(rows),
            queries,
            snap.version,
        )
    return kept


def _pipeline(snap: Snapshot, model: str | None) -> SearchPipeline:
    """The service's pipeline (settings from `KAIROS_*`), uncached, with the snapshot's own model."""
    settings = Settings()
    name = model or settings.model
    kairos_model = resolve_model(name).to(settings.device).eval()
    fingerprint = model_fingerprint(kairos_model)
    if fingerprint != snap.manifest.model_hash:
        mismatch = ModelMismatchError(str(snap.path), fingerprint, snap.manifest.model_hash)
        raise EvalError(f"{mismatch} (loaded model {name!r}; choose another with --model)")
    metrics = Metrics()
    client = connect(settings.redis_url, settings.redis_timeout_s)  # never called: ttl 0 disables the cache
    cache = Cache(client, metrics, ttl_s=0, retry_s=settings.redis_retry_s)
    return SearchPipeline(kairos_model, fingerprint, cache, metrics, settings)


def evaluate(snapshot: Path, queries: Path, out: Path | None, model: str | None) -> dict[str, Any]:
    """Run VCMR, SVMR and VR for the queries whose video is in the snapshot; write predictions to `out`.

    Returns the official TVR metrics (`VCMR`, `SVMR`, `VR` and `<TASK>_by_type` when the queries have
    types) plus `queries`: the file, the snapshot version, how many queries were evaluated and how many were
    excluded (video not in the snapshot). `model` is a registry name or checkpoint directory; by default the
    service's (`KAIROS_MODEL`).
    """
    rows = read_queries(queries)
    try:
        snap = open_snapshot(snapshot)
    except SnapshotError as exc:
        raise EvalError(str(exc)) from exc
    with snap:
        kept = _indexed(rows, snap, queries)
        result = run_evaluation(_pipeline(snap, model), snap, kept)
        summary = {
            "file": str(queries),
            "snapshot": snap.version,
            "evaluated": len(kept),
            "excluded": len(rows) - len(kept),
        }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result.predictions) + "\n", encoding="utf-8")
    return result.metrics | {"queries": summary}
