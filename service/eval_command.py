"""`kairos eval`: TVR metrics of a snapshot for a TVR-format query file, through the search pipeline."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from indexer.encoding import model_fingerprint, resolve_model
from indexer.snapshot import ModelMismatchError, Snapshot, SnapshotError, open_snapshot
from service.cache import Cache, connect
from service.evaluation import run_evaluation
from service.metrics import Metrics
from service.search import SearchPipeline
from service.settings import MAX_QUERY_CHARS, Settings
from service.tvr_metrics import DESC_TYPES

log = logging.getLogger(__name__)


class EvalError(Exception):
    """The evaluation cannot run: bad query file, no usable query, or a snapshot the model cannot read."""


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _problem(row: object) -> str | None:
    """What is wrong with one parsed query line, or None when it is a usable TVR row."""
    if not isinstance(row, dict):
        return "expected a JSON object"
    missing = [key for key in ("desc_id", "desc", "vid_name", "ts") if key not in row]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    desc, ts = row["desc"], row["ts"]
    if not isinstance(desc, str) or not desc.strip() or len(desc) > MAX_QUERY_CHARS:
        return f"desc must be a non-empty string of at most {MAX_QUERY_CHARS} characters"
    if not isinstance(row["vid_name"], str) or not row["vid_name"]:
        return "vid_name must be a non-empty string"
    if not (isinstance(ts, list) and len(ts) == 2 and all(_number(t) for t in ts) and ts[0] <= ts[1]):
        return f"ts must be [start, end] seconds with start <= end, got {ts!r}"
    if "type" in row and row["type"] not in DESC_TYPES:
        return f"type must be one of {', '.join(DESC_TYPES)}, got {row['type']!r}"
    return None


def read_queries(path: Path) -> list[dict[str, Any]]:
    """TVR jsonl rows (blank lines skipped); a bad line is an `EvalError` naming the file and line number."""
    rows: list[dict[str, Any]] = []
    first_line: dict[object, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"cannot read queries {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}:{number}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        if (problem := _problem(row)) is not None:
            raise EvalError(f"{path}:{number}: {problem}")
        desc_id = row["desc_id"]
        if desc_id in first_line:
            raise EvalError(f"{path}:{number}: desc_id {desc_id!r} repeats line {first_line[desc_id]}")
        first_line[desc_id] = number
        rows.append(row)
    if not rows:
        raise EvalError(f"{path} holds no queries")
    return rows


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
