"""Quality report: TVR's official metrics for Kairos and two baselines, side by side, in one run.

    python benchmarks/quality.py [--model DIR_OR_NAME]
        [--corpus HELDOUT_CORPUS --queries Q.jsonl [Q2.jsonl ...] [--compositional C.jsonl]]
        [--phrasing-queries P.jsonl [P2.jsonl ...] [--phrasing-compositional PC.jsonl]]
        [--out benchmarks/results/quality.json]

With no arguments: the bundled model on the model card's held-out corpus (`kairos synth --videos 112 --seed
12345 --min-duration 20 --max-duration 40`, generated once into benchmarks/.work/), all its annotated queries
and its compositional split, each also in its held-out phrasings (`annotations/heldout_phrasing/`: the same
queries in words and frames no training phrasing uses), compared side by side by `phrasing.py`.

1. The corpus (a folder of videos with subtitle sidecars, e.g. a `kairos synth` corpus with a fresh seed) is
   indexed into a temporary snapshot with `commands.index.index` (or `--snapshot DIR` reuses one).
2. Kairos: every query goes through the service's `SearchPipeline` (`commands.evaluation.run_evaluation`:
   VCMR = `search`, SVMR = `localize` in the ground-truth video, VR = `search_videos`), uncached.
3. Baselines (`benchmarks/baselines.py`), on the same snapshot and queries:
   (a) `subtitle_lines`: query vs. every subtitle line (cosine of pooled all-MiniLM-L6-v2 vectors), moment =
       the line's span, video score = best line;
   (b) `clip_window`: query vector . every stored clip vector (no segment/video index, no moment head),
       moment = a window of +-W clips around a clip (NMS at IoU 0.5 within a video), video score = best clip.
       W is chosen on `--window-queries` (default: the corpus' `annotations/val.jsonl`) by the mean VCMR
       recall over {0.5,0.7} x R@{1,5,10}, unless `--window` fixes it.
4. All predictions are scored by `models.tvr_metrics.evaluate_submission` (the official definitions).

Splits: `heldout` = all `--queries` files together, `compositional` = `--compositional`, and
`heldout_phrasing` / `compositional_phrasing` = the same queries held-out phrased (by default the corpus'
`annotations/heldout_phrasing/` files of the same names, where they exist). Writes the JSON (figures per
system per split, the issue's bar, `phrasing`: template vs held-out phrasing per type with ratios and its bar,
machine, command, timings) and a markdown table next to it (`.md`), and prints the table.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELDOUT_SEED = 12345  # the model card's held-out seed
HELDOUT_DIR = ROOT / "benchmarks" / ".work" / f"heldout-s{HELDOUT_SEED}"

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from benchmarks import phrasing  # noqa: E402
from benchmarks.baselines import (  # noqa: E402
    Units,
    clip_window_units,
    encode_queries,
    encode_texts,
    submission,
    subtitle_units,
)
from benchmarks.common import RESULTS, write_report  # noqa: E402
from benchmarks.common import machine as common_machine  # noqa: E402
from commands.evaluate import read_queries  # noqa: E402
from commands.evaluation import run_evaluation  # noqa: E402
from commands.index import index  # noqa: E402
from indexer.snapshot import Snapshot, open_snapshot  # noqa: E402
from indexer.synth.corpus import heldout_phrasing_dir  # noqa: E402
from models.pretrained import WEIGHTS_DIR, model_fingerprint, resolve_model  # noqa: E402
from models.tvr_metrics import DESC_TYPES, IOU_THRESHOLDS, RECALL_TOPKS, TASKS, evaluate_submission  # noqa: E402
from service.cache import Cache, connect  # noqa: E402
from service.metrics import Metrics  # noqa: E402
from service.schemas import SearchRequest  # noqa: E402
from service.search import SearchPipeline  # noqa: E402
from service.settings import Settings  # noqa: E402

log = logging.getLogger("quality")

SYSTEMS = ("kairos", "subtitle_lines", "clip_window")
LABELS = {
    "kairos": "Kairos",
    "subtitle_lines": "(a) subtitle lines",
    "clip_window": "(b) clip window",
}
WINDOW_CHOICES = (0, 1, 2, 3, 4, 5, 6, 8)
SELECTION_KEYS = [f"{thd}-r{k}" for thd in IOU_THRESHOLDS for k in (1, 5, 10)]
BAR = {"VCMR": {"0.5-r1": 45.0, "0.5-r10": 80.0}}
Row = dict[str, Any]


# -- inputs ---------------------------------------------------------------------------------------------


def load_queries(paths: Sequence[Path]) -> list[Row]:
    """TVR rows of several files, checked by `kairos eval`'s reader; desc_ids must be unique across files."""
    rows: list[Row] = []
    origin: dict[object, Path] = {}
    for path in paths:
        for row in read_queries(path):
            if row["desc_id"] in origin:
                raise SystemExit(f"desc_id {row['desc_id']!r} is in both {origin[row['desc_id']]} and {path}")
            origin[row["desc_id"]] = path
            rows.append(row)
    return rows


def in_snapshot(rows: list[Row], snap: Snapshot, split: str) -> list[Row]:
    kept = [row for row in rows if row["vid_name"] in snap]
    if len(kept) < len(rows):
        log.warning(
            "%s: %d of %d queries excluded (video not indexed)", split, len(rows) - len(kept), len(rows)
        )
    if not kept:
        raise SystemExit(f"{split}: no query has its video in the snapshot")
    return kept


def pipeline_for(snap: Snapshot, model_spec: str) -> SearchPipeline:
    """The service's pipeline (settings from `KAIROS_*`), uncached (ttl 0: Redis is never called)."""
    settings = Settings()
    model = resolve_model(model_spec).to(settings.device).eval()
    fingerprint = model_fingerprint(model)
    if fingerprint != snap.manifest.model_hash:
        raise SystemExit(
            f"snapshot {snap.path} was indexed by model {snap.manifest.model_hash}, not {model_spec!r} "
            f"({fingerprint})"
        )
    metrics = Metrics()
    client = connect(settings.redis_url, settings.redis_timeout_s)
    cache = Cache(client, metrics, ttl_s=0, retry_s=settings.redis_retry_s)
    return SearchPipeline(model, fingerprint, cache, metrics, settings)


def weights_source(spec: str) -> str:
    """Where `resolve_model(spec)` takes its weights from: a checkpoint, the bundled ones, or random init."""
    if (Path(spec).expanduser() / "config.json").is_file():
        return "checkpoint"
    if (WEIGHTS_DIR / spec / "config.json").is_file():
        return "bundled"
    return "random"


# -- systems --------------------------------------------------------------------------------------------


def evaluate_kairos(
    pipeline: SearchPipeline, snap: Snapshot, rows: list[Row]
) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    metrics = run_evaluation(pipeline, snap, rows).metrics
    return metrics, time.perf_counter() - start


def evaluate_units(
    query_vectors: Any, units: Units, rows: list[Row], video2idx: Mapping[str, int]
) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    metrics = evaluate_submission(submission(query_vectors, units, rows, video2idx), rows)
    return metrics, time.perf_counter() - start


def choose_window(
    pipeline: SearchPipeline, snap: Snapshot, rows: list[Row], video2idx: Mapping[str, int]
) -> tuple[int, dict[str, float]]:
    """The half-width W (clips) of the clip-window baseline with the best mean VCMR recall on `rows`."""
    vectors = encode_queries(pipeline.model, [row["desc"] for row in rows])
    sweep: dict[str, float] = {}
    for width in WINDOW_CHOICES:
        metrics, _ = evaluate_units(vectors, clip_window_units(snap, width), rows, video2idx)
        sweep[str(width)] = round(
            sum(float(metrics["VCMR"][key]) for key in SELECTION_KEYS) / len(SELECTION_KEYS), 2
        )
    best = max(WINDOW_CHOICES, key=lambda w: (sweep[str(w)], -w))
    return best, sweep


# -- report ---------------------------------------------------------------------------------------------


def bar_check(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The issue's bar on the held-out split: absolute VCMR figures, and ahead of both baselines on every
    VCMR figure (strictly)."""
    kairos = results["kairos"]["VCMR"]
    checks: dict[str, Any] = {}
    for key, floor in BAR["VCMR"].items():
        checks[f"VCMR {key} >= {floor:g}"] = {"value": kairos[key], "met": kairos[key] >= floor}
    for baseline in SYSTEMS[1:]:
        behind = {
            key: [kairos[key], value]
            for key, value in results[baseline]["VCMR"].items()
            if not kairos[key] > value
        }
        checks[f"ahead of {baseline} on every VCMR figure"] = {"met": not behind, "not_ahead": behind}
    checks["all_met"] = all(c["met"] for c in checks.values())
    return checks


def _cell(value: object) -> str:
    return "–" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def split_table(split: str, results: Mapping[str, Mapping[str, Any]], n_queries: int) -> list[str]:
    """All queries: a row per task, IoU and system; then VCMR by query type at IoU 0.5."""
    lines = [
        f"### {split} ({n_queries} queries)",
        "",
        "| task | IoU | system | " + " | ".join(f"R@{k}" for k in RECALL_TOPKS) + " |",
        "|" + " --- |" * (3 + len(RECALL_TOPKS)),
    ]
    for task in TASKS:
        for thd in [""] if task == "VR" else [str(t) for t in IOU_THRESHOLDS]:
            prefix = f"{thd}-" if thd else ""
            for system in SYSTEMS:
                cells = " | ".join(_cell(results[system][task][f"{prefix}r{k}"]) for k in RECALL_TOPKS)
                lines.append(f"| {task} | {thd or '–'} | {LABELS[system]} | {cells} |")
    if all("VCMR_by_type" in results[s] for s in SYSTEMS):
        ratio = results["kairos"]["VCMR_by_type"]["desc_type_ratio"]
        lines += [
            "",
            "VCMR at IoU 0.5 by query type (v = visual, t = subtitle, vt = both; "
            f"percent of queries: {ratio}):",
            "",
            "| type | system | " + " | ".join(f"R@{k}" for k in RECALL_TOPKS) + " |",
            "|" + " --- |" * (2 + len(RECALL_TOPKS)),
        ]
        for desc_type in DESC_TYPES:
            for system in SYSTEMS:
                by_type = results[system]["VCMR_by_type"]
                cells = " | ".join(_cell(by_type[f"{desc_type}-0.5-r{k}"]) for k in RECALL_TOPKS)
                lines.append(f"| {desc_type} | {LABELS[system]} | {cells} |")
    return lines + [""]


def markdown(report: Mapping[str, Any]) -> str:
    corpus, model, window = report["corpus"], report["model"], report["clip_window"]
    lines = [
        f"Model `{model['spec']}` (fingerprint {model['fingerprint']}) on `{corpus['path']}`: "
        f"{corpus['videos']} videos, {corpus['clips']} clips, {corpus['subtitle_lines']} subtitle lines. "
        f"Baseline (b) window: ±{window['half_width']} clips ({window['chosen_by']}).",
        "",
    ]
    if model.get("weights") == "random":
        lines += ["**Random weights (no checkpoint): development figures, not the model's quality.**", ""]
    for split, info in report["splits"].items():
        lines += split_table(split, report["results"][split], info["queries"])
    lines += phrasing.markdown(report.get("phrasing", {}), LABELS)
    if "bar" in report:
        lines.append(
            "Bar (held-out split): "
            + ", ".join(
                f"{name}: {'met' if check['met'] else 'MISSED'}"
                + (f" ({check['value']:.2f})" if "value" in check else "")
                for name, check in report["bar"].items()
                if name != "all_met"
            )
            + "."
        )
    if "phrasing_bar" in report:
        lines.append(phrasing.bar_line(report["phrasing_bar"]))
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    """`common.machine` with torch's version and threads."""
    return common_machine(torch_threads=torch.get_num_threads(), torch=torch.__version__)


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


# -- main -----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="kairos-small", help="checkpoint folder (config.json) or registry name"
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        help="held-out corpus folder (videos + .srt); default: generated once with seed "
        f"{HELDOUT_SEED} into {HELDOUT_DIR.relative_to(ROOT)}",
    )
    parser.add_argument(
        "--queries", type=Path, nargs="+", help="TVR jsonl file(s): split heldout (default: the corpus')"
    )
    parser.add_argument("--compositional", type=Path, help="TVR jsonl: split compositional")
    parser.add_argument(
        "--phrasing-queries",
        type=Path,
        nargs="+",
        help="the --queries held-out phrased: split heldout_phrasing",
    )
    parser.add_argument("--phrasing-compositional", type=Path, help="--compositional held-out phrased")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "quality.json", help="JSON report (markdown beside it, .md)"
    )
    parser.add_argument("--snapshot", type=Path, help="reuse this snapshot (root or dir) instead of indexing")
    parser.add_argument("--window", type=int, help="clip-window half-width in clips (default: chosen)")
    parser.add_argument("--window-queries", type=Path, help="queries to choose it on (default: corpus val)")
    parser.add_argument("--workers", type=int, default=1, help="indexing worker processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    if args.corpus is None:
        args.corpus = heldout_corpus()
        args.compositional = args.compositional or args.corpus / "annotations" / "compositional.jsonl"
    if args.queries is None:
        args.queries = [args.corpus / "annotations" / f"{split}.jsonl" for split in ("train", "val", "test")]
    if args.phrasing_queries is None:
        args.phrasing_queries = phrased_files(args.corpus, args.queries)
    if args.phrasing_compositional is None and args.compositional is not None:
        found = phrased_files(args.corpus, [args.compositional])
        args.phrasing_compositional = found[0] if found else None
    return args


def phrased_files(corpus: Path, files: Sequence[Path]) -> list[Path] | None:
    """The corpus' held-out phrasings of `files` (same names), or None unless every one exists."""
    found = [heldout_phrasing_dir(corpus) / path.name for path in files]
    return found if all(path.is_file() for path in found) else None


def heldout_corpus() -> Path:
    """The default held-out corpus (a seed never used in training), generated by `kairos synth` once."""
    if not (heldout_phrasing_dir(HELDOUT_DIR) / "test.jsonl").is_file():
        command = [str(Path(sys.executable).with_name("kairos")), "synth", "--seed", str(HELDOUT_SEED)]
        command += [
            "--videos",
            "112",
            "--min-duration",
            "20",
            "--max-duration",
            "40",
            "--out",
            str(HELDOUT_DIR),
        ]
        subprocess.run(command, check=True)
    return HELDOUT_DIR


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    timings: dict[str, Any] = {}
    splits: dict[str, list[Row]] = {"heldout": load_queries(args.queries)}
    if args.compositional is not None:
        splits["compositional"] = load_queries([args.compositional])
    if args.phrasing_queries:
        splits["heldout_phrasing"] = load_queries(args.phrasing_queries)
    if args.phrasing_compositional is not None and "compositional" in splits:
        splits["compositional_phrasing"] = load_queries([args.phrasing_compositional])
    phrasing.check_pairs(splits)
    corpus = args.corpus.resolve()

    with tempfile.TemporaryDirectory(prefix="kairos-quality-") as tmp:
        index_report: dict[str, Any] | None = None
        if args.snapshot is None:
            log.info("indexing %s with %s", corpus, args.model)
            t0 = time.perf_counter()
            index_report = index(
                [str(corpus)], Path(tmp), model=args.model, workers=args.workers, progress=False
            )
            timings["index_s"] = round(time.perf_counter() - t0, 2)
            if index_report.get("failed"):
                log.warning(
                    "%d videos failed to index: %s", len(index_report["failed"]), index_report["failed"][:3]
                )
        with open_snapshot(args.snapshot or Path(tmp)) as snap:
            report = run(args, snap, splits, corpus, timings)
            if index_report is not None:
                report["corpus"]["index"] = {
                    key: index_report.get(key) for key in ("counts", "timings", "throughput")
                }
    timings["total_s"] = round(time.perf_counter() - started, 2)
    write_report(args.out, report, markdown(report))
    return report


def run(
    args: argparse.Namespace,
    snap: Snapshot,
    splits: dict[str, list[Row]],
    corpus: Path,
    timings: dict[str, Any],
) -> dict[str, Any]:
    splits = {name: in_snapshot(rows, snap, name) for name, rows in splits.items()}
    video2idx = {video_id: idx for idx, video_id in enumerate(snap.video_ids)}
    pipeline = pipeline_for(snap, args.model)
    model = pipeline.model

    t0 = time.perf_counter()
    lines, without_lines = subtitle_units(snap, model.text_encoder)
    timings["encode_subtitle_lines_s"] = round(time.perf_counter() - t0, 2)

    if args.window is not None:
        sweep: dict[str, float] = {}
        width, chosen_by = args.window, "fixed by --window"
    else:
        window_path = args.window_queries or corpus / "annotations" / "val.jsonl"
        window_rows = in_snapshot(load_queries([window_path]), snap, "window selection")
        t0 = time.perf_counter()
        width, sweep = choose_window(pipeline, snap, window_rows, video2idx)
        timings["choose_window_s"] = round(time.perf_counter() - t0, 2)
        chosen_by = (
            f"best mean VCMR R@{{1,5,10}} at IoU {{0.5,0.7}} among ±{list(WINDOW_CHOICES)} on "
            f"{len(window_rows)} queries of {window_path.name}"
        )
        log.info("clip window: ±%d clips (sweep %s)", width, sweep)
    windows = clip_window_units(snap, width)

    results: dict[str, dict[str, Any]] = {}
    for split, rows in splits.items():
        log.info("%s: %d queries", split, len(rows))
        split_times: dict[str, float] = {}
        texts = [row["desc"] for row in rows]
        out: dict[str, Any] = {}
        out["kairos"], split_times["kairos"] = evaluate_kairos(pipeline, snap, rows)
        t0 = time.perf_counter()
        pooled = encode_texts(model.text_encoder, texts)
        enc_a = time.perf_counter() - t0
        out["subtitle_lines"], rank_a = evaluate_units(pooled, lines, rows, video2idx)
        split_times["subtitle_lines"] = enc_a + rank_a
        t0 = time.perf_counter()
        query_vectors = encode_queries(model, texts)
        enc_b = time.perf_counter() - t0
        out["clip_window"], rank_b = evaluate_units(query_vectors, windows, rows, video2idx)
        split_times["clip_window"] = enc_b + rank_b
        results[split] = out
        timings[split] = {
            key: {"total_s": round(value, 2), "per_query_ms": round(1000 * value / len(rows), 2)}
            for key, value in split_times.items()
        }

    report: dict[str, Any] = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "git_commit": git_commit(),
        "machine": machine(),
        "model": {
            "spec": args.model,
            "weights": weights_source(args.model),
            "fingerprint": pipeline.fingerprint,
            "config_hash": model.config.config_hash(),
            "text_model": model.config.text_model,
        },
        "corpus": {
            "path": str(corpus),
            "snapshot": snap.version,
            "videos": len(snap),
            "clips": snap.manifest.counts.clips,
            "clip_seconds": snap.manifest.clip_seconds,
            "subtitle_lines": len(lines),
            "videos_without_subtitles": without_lines,
        },
        "splits": {
            "heldout": {"files": [str(p) for p in args.queries], "queries": len(splits["heldout"])},
        },
        "search_settings": {
            "stage1": pipeline.stage1_mode,
            "softmax_temperature": pipeline.temperature,
            "top_k_videos": SearchRequest.model_fields["top_k_videos"].default,
        },
        "clip_window": {"half_width": width, "chosen_by": chosen_by, "sweep_mean_vcmr": sweep},
        "systems": {
            "kairos": "service SearchPipeline (stage 1 segments -> stage 2 moment head), uncached",
            "subtitle_lines": "pooled text-encoder cosine, query vs each subtitle line; moment = line span",
            "clip_window": "query vector . stored clip vector; moment = ±W clips around the clip, NMS 0.5",
        },
        "results": results,
        "bar": bar_check(results["heldout"]),
        "timings": timings,
    }
    files = {
        "compositional": [args.compositional],
        "heldout_phrasing": args.phrasing_queries,
        "compositional_phrasing": [args.phrasing_compositional],
    }
    for split, paths in files.items():
        if split in splits:
            report["splits"][split] = {"files": [str(p) for p in paths], "queries": len(splits[split])}
    report["phrasing"] = phrasing.report(results, SYSTEMS)
    if "heldout" in report["phrasing"]:
        report["phrasing_bar"] = phrasing.bar_check(report["phrasing"]["heldout"]["kairos"])
    return report


if __name__ == "__main__":
    main()
