"""Line retrieval beside the segment index, measured both ways: segments only, lines only, fused.

    python benchmarks/line_fusion.py [--model kairos-small] [--corpus HELDOUT_CORPUS] [--snapshot DIR]
        [--tune] [--out benchmarks/results/line_fusion.json]

The held-out corpus (`kairos synth --videos 112 --seed 12345 --min-duration 20 --max-duration 40`, as
`quality.py` generates it once) is indexed with `--model` (or `--snapshot DIR` reuses a snapshot of it), and
every query of all its annotation splits (train, val, test, compositional) is searched by the service's
`SearchPipeline` three times, uncached: `KAIROS_LINE_RETRIEVAL` = off (segments only), only (lines only), on
(fused); VCMR = `search` (limit 100), VR = `search_videos`. Beside them, baseline (a) of `quality.py`:
each query against each subtitle line by the text encoder's sentence vectors, moment = the line's span.
Figures (TVR metrics, percent) per query type (v / t / vt) and over all; `--tune` first sweeps the fusion's
settings (RRF k, temperature, lines read) on the val split alone and keeps the best mean VCMR recall.
Writes the JSON (figures per system, per split and pooled, the bar check, settings, timings) and a markdown
table next to it.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shlex
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch  # noqa: E402

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.baselines import encode_texts, submission, subtitle_units  # noqa: E402
from benchmarks.common import RESULTS, write_report  # noqa: E402
from benchmarks.quality import git_commit, heldout_corpus, in_snapshot, load_queries, machine  # noqa: E402
from commands.index import index  # noqa: E402
from indexer.snapshot import Snapshot, open_snapshot  # noqa: E402
from models.model import KairosModel  # noqa: E402
from models.pretrained import model_fingerprint, resolve_model  # noqa: E402
from models.tvr_metrics import DESC_TYPES, MAX_PREDICTIONS, evaluate_submission  # noqa: E402
from service.cache import Cache, connect  # noqa: E402
from service.metrics import Metrics  # noqa: E402
from service.schemas import SearchRequest, VideoSearchRequest  # noqa: E402
from service.search import SearchPipeline  # noqa: E402
from service.settings import Settings  # noqa: E402

log = logging.getLogger("line_fusion")

SPLITS = ("train", "val", "test", "compositional")
MODES = {"segments": "off", "lines": "only", "fused": "on"}
BASELINE = "subtitle_lines"
SYSTEMS = (*MODES, BASELINE)
LABELS = {
    "segments": "segments only",
    "lines": "lines only",
    "fused": "fused",
    BASELINE: "(a) subtitle lines",
}
FIGURES = [("VCMR", f"{thd}-r{k}") for thd in ("0.5", "0.7") for k in (1, 5, 10)] + [("VR", "r1")]
VCMR_KEYS = [key for task, key in FIGURES if task == "VCMR"]
SWEEP = {"line_rrf_k": (10, 20, 60), "line_temperature": (0.02, 0.05, 0.1)}
Row = dict[str, Any]


def pipeline(model: KairosModel, fingerprint: str, **overrides: Any) -> SearchPipeline:
    """The service's pipeline (other settings from `KAIROS_*`), uncached (ttl 0: Redis is never called)."""
    settings = Settings(**overrides)
    metrics = Metrics()
    client = connect(settings.redis_url, settings.redis_timeout_s)
    cache = Cache(client, metrics, ttl_s=0, retry_s=settings.redis_retry_s)
    return SearchPipeline(model, fingerprint, cache, metrics, settings)


def predictions(search: SearchPipeline, snap: Snapshot, rows: Sequence[Row]) -> dict[str, Any]:
    """VCMR (`search`) and VR (`search_videos`) predictions of every query, as `kairos eval` makes them."""
    video2idx = {video_id: idx for idx, video_id in enumerate(snap.video_ids)}
    vcmr, vr = [], []
    for row in rows:
        head = {"desc_id": row["desc_id"], "desc": row["desc"]}
        body = {"query": row["desc"], "limit": MAX_PREDICTIONS}
        found = search.search(SearchRequest.model_validate(body), snap).moments
        vcmr.append(head | {"predictions": [[video2idx[m.video_id], m.start, m.end, m.score] for m in found]})
        videos = search.search_videos(VideoSearchRequest.model_validate(body), snap).videos
        vr.append(head | {"predictions": [[video2idx[v.video_id], 0.0, 0.0, v.score] for v in videos]})
    return {"video2idx": video2idx, "VCMR": vcmr, "VR": vr}


def figures(metrics: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """The figures per query type and over all: `{"all" | type: {"VCMR 0.5-r1": ..., "VR r1": ...}}`."""
    out: dict[str, dict[str, float | None]] = {"all": {f"{t} {k}": metrics[t][k] for t, k in FIGURES}}
    for desc_type in DESC_TYPES:
        out[desc_type] = {f"{t} {k}": metrics[f"{t}_by_type"][f"{desc_type}-{k}"] for t, k in FIGURES}
    return out


def mean_vcmr(metrics: Mapping[str, Any]) -> float:
    return sum(metrics["VCMR"][key] for key in VCMR_KEYS) / len(VCMR_KEYS)


def tune(
    model: KairosModel, fingerprint: str, snap: Snapshot, rows: Sequence[Row]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fusion settings of SWEEP with the best mean VCMR recall on `rows` (ties: the first)."""
    sweep: list[dict[str, Any]] = []
    for values in itertools.product(*SWEEP.values()):
        overrides = dict(zip(SWEEP, values, strict=True))
        metrics = evaluate_submission(
            predictions(pipeline(model, fingerprint, **overrides), snap, rows), rows
        )
        sweep.append({"settings": overrides, "mean_vcmr": round(mean_vcmr(metrics), 2)})
        log.info("tune %s: %.2f", overrides, sweep[-1]["mean_vcmr"])
    best = max(sweep, key=lambda entry: entry["mean_vcmr"])
    return best["settings"], sweep


def bar_check(pooled: Mapping[str, Mapping[str, Mapping[str, float | None]]]) -> list[str]:
    """Where fused loses to segments or lines (any figure, any type), or to (a) on t queries (VCMR)."""
    misses = []
    for group, values in pooled["fused"].items():
        for figure, value in values.items():
            rivals = ["segments", "lines"] + (
                [BASELINE] if group == "t" and figure.startswith("VCMR") else []
            )
            for rival in rivals:
                theirs = pooled[rival][group][figure]
                if value is not None and theirs is not None and value < theirs:
                    misses.append(f"{group} {figure}: fused {value:.2f} < {LABELS[rival]} {theirs:.2f}")
    return misses


def markdown(report: Mapping[str, Any]) -> str:
    """One table per query group: a row per system, a column per figure."""
    pooled = report["pooled"]
    out = [
        "# Line retrieval beside the segment index",
        "",
        f"Model `{report['model']}`, {report['queries']} queries ({', '.join(report['splits'])}) on "
        f"{report['videos']} "
        f"held-out videos; fusion settings {report['fusion']}. TVR metrics, percent.",
        "",
        "Fused and lines only rank moments as the service does (`service.search`): a line found in stage 1 "
        "takes the place of the moment head's span of the clips it covers, with that span's score, so the "
        "head decides how far a moment reaches and the line gives finer bounds.",
        "",
    ]
    for group in ("all", *DESC_TYPES):
        counts = report["query_types"].get(group, report["queries"])
        out += [f"## {group} ({counts} queries)", ""]
        out.append("| system | " + " | ".join(f"{t} {k}" for t, k in FIGURES) + " |")
        out.append("|" + " --- |" * (1 + len(FIGURES)))
        for system in SYSTEMS:
            cells = [pooled[system][group][f"{t} {k}"] for t, k in FIGURES]
            out.append(
                f"| {LABELS[system]} | " + " | ".join("–" if c is None else f"{c:.2f}" for c in cells) + " |"
            )
        out.append("")
    out += ["## Where fused loses", ""] + [f"- {miss}" for miss in report["misses"] or ["nowhere"]] + [""]
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="kairos-small", help="checkpoint folder or registry name")
    parser.add_argument("--corpus", type=Path, default=None, help="default: the held-out corpus")
    parser.add_argument("--snapshot", type=Path, default=None, help="a snapshot of the corpus to reuse")
    parser.add_argument("--tune", action="store_true", help="sweep the fusion settings on val first")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS, help="default: all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "line_fusion.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    corpus = (args.corpus or heldout_corpus()).resolve()
    with tempfile.TemporaryDirectory(prefix="kairos-line-fusion-") as tmp:
        if args.snapshot is None:
            index([str(corpus)], Path(tmp), model=args.model, progress=False)
        with open_snapshot(args.snapshot or Path(tmp)) as snap:
            report = run(args, snap, corpus)
    write_report(args.out, report, markdown(report))
    return report


def run(args: argparse.Namespace, snap: Snapshot, corpus: Path) -> dict[str, Any]:
    model = resolve_model(args.model).eval()
    fingerprint = model_fingerprint(model)
    if fingerprint != snap.manifest.model_hash:
        raise SystemExit(f"snapshot {snap.path} was not indexed by {args.model!r} ({fingerprint})")
    splits = {
        split: in_snapshot(load_queries([corpus / "annotations" / f"{split}.jsonl"]), snap, split)
        for split in args.splits
    }
    timings: dict[str, float] = {}
    fusion: dict[str, Any] = {}
    sweep: list[dict[str, Any]] = []
    if args.tune:
        t0 = time.perf_counter()
        val = in_snapshot(load_queries([corpus / "annotations" / "val.jsonl"]), snap, "val")
        fusion, sweep = tune(model, fingerprint, snap, val)
        timings["tune_s"] = round(time.perf_counter() - t0, 2)
    every = [row for rows in splits.values() for row in rows]
    preds: dict[str, dict[str, Any]] = {}
    for system, mode in MODES.items():
        t0 = time.perf_counter()
        preds[system] = predictions(pipeline(model, fingerprint, line_retrieval=mode, **fusion), snap, every)
        timings[f"{system}_ms_per_query"] = round(1000 * (time.perf_counter() - t0) / len(every), 2)
    lines, _ = subtitle_units(snap, model.text_encoder)
    preds[BASELINE] = submission(
        encode_texts(model.text_encoder, [row["desc"] for row in every]),
        lines,
        every,
        preds["fused"]["video2idx"],
    )
    del preds[BASELINE]["SVMR"]
    settings = Settings(**fusion)
    per_split: dict[str, dict[str, Any]] = {}
    for split, rows in splits.items():
        ids = {row["desc_id"] for row in rows}
        per_split[split] = {
            system: figures(evaluate_submission(_subset(pred, ids), rows)) for system, pred in preds.items()
        }
    pooled = {system: figures(evaluate_submission(pred, every)) for system, pred in preds.items()}
    return {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "git_commit": git_commit(),
        "machine": machine(),
        "model": args.model,
        "corpus": str(corpus),
        "videos": len(snap),
        "lines": len(snap.lines) if snap.lines is not None else 0,
        "queries": len(every),
        "query_types": {t: sum(row.get("type") == t for row in every) for t in DESC_TYPES},
        "fusion": {
            "line_candidates": settings.line_candidates,
            "line_rrf_k": settings.line_rrf_k,
            "line_temperature": settings.line_temperature,
            "line_min_similarity": settings.line_min_similarity,
            "line_min_word_similarity": settings.line_min_word_similarity,
            "line_moments": settings.line_moments,
            "softmax_temperature": settings.softmax_temperature,
        },
        "sweep_on_val": sweep,
        "pooled": pooled,
        "splits": per_split,
        "misses": bar_check(pooled),
        "timings": timings,
    }


def _subset(pred: Mapping[str, Any], ids: set[Any]) -> dict[str, Any]:
    return {
        task: value if task == "video2idx" else [entry for entry in value if entry["desc_id"] in ids]
        for task, value in pred.items()
    }


if __name__ == "__main__":
    main()
