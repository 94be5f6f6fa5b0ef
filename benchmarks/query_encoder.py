"""Query encoder backends side by side in one run: torch, ONNX Runtime fp32, ONNX Runtime int8.

    python benchmarks/query_encoder.py [--model kairos-small] [--queries 2000] [--latency 300]
        [--heldout-videos 40] [--heldout-seed 12345]

On the first `--queries` real descriptions of `../shared/data/tvr/tvr_val_release.jsonl`:
1. export: seconds to export the fp32 graph and to quantize it to int8 (into a fresh temporary folder), sizes;
2. latency: one query per call (tokenisation included), the backends interleaved query by query, p50/p99;
3. throughput: batches of `--batch` queries, queries per second;
4. agreement with torch: cosine of each backend's vectors to torch's; neighbour recall@1/@10: with the torch
   vectors of all the queries as the database, the share of torch's k nearest neighbours of a query (itself
   excluded) that the backend's vector of the same query also finds among its k nearest.
5. retrieval, the figure that decides int8: TVR's official VR and VCMR metrics on a synthetic held-out corpus
   (a seed never used in training, indexed with the model), every query through the service's
   `SearchPipeline` with that backend. int8 is accepted when none of VR R@{1,10} and VCMR 0.5 R@{1,10}
   falls more than 1 point below torch's (a figure above torch's is held too).
Writes benchmarks/results/query_encoder.json and .md. One thread for torch and for ONNX Runtime.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, TVR_VAL, machine, write_report
from commands.evaluation import run_evaluation
from indexer.snapshot import open_snapshot
from models.model import KairosModel
from models.onnx_export import export_fp32, quantize_int8
from models.pretrained import model_fingerprint, resolve_model
from models.query_backends import BACKENDS, QueryBackend, load_query_backend
from service.cache import Cache, connect
from service.metrics import Metrics
from service.search import SearchPipeline
from service.settings import Settings

OUT = RESULTS / "query_encoder.json"
DECIDING = [("VR", "r1"), ("VR", "r10"), ("VCMR", "0.5-r1"), ("VCMR", "0.5-r10")]
TOLERANCE = 1.0  # points (the official metrics are percentages)


def ms_summary(seconds: list[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1000
    return {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
        "mean": round(float(values.mean()), 3),
    }


def export_costs(model: KairosModel, folder: Path) -> dict[str, Any]:
    """Seconds and bytes of a fresh fp32 export and of its int8 quantization."""
    folder.mkdir(parents=True)
    fp32, int8 = folder / "fp32.onnx", folder / "int8.onnx"
    start = time.perf_counter()
    export_fp32(model, fp32)
    middle = time.perf_counter()
    quantize_int8(fp32, int8)
    end = time.perf_counter()
    return {
        "fp32_export_s": round(middle - start, 2),
        "int8_quantize_s": round(end - middle, 2),
        "fp32_mb": round(fp32.stat().st_size / 1e6, 1),
        "int8_mb": round(int8.stat().st_size / 1e6, 1),
    }


def latency(backends: dict[str, QueryBackend], texts: list[str]) -> dict[str, dict[str, float]]:
    """One query per call; each query goes through every backend, in a rotating order."""
    names = list(backends)
    for name in names:  # warm up
        for text in texts[:20]:
            backends[name].encode([text])
    times: dict[str, list[float]] = {name: [] for name in names}
    for i, text in enumerate(texts):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            backends[name].encode([text])
            times[name].append(time.perf_counter() - start)
    return {name: ms_summary(values) for name, values in times.items()}


def throughput(backends: dict[str, QueryBackend], texts: list[str], batch: int) -> dict[str, float]:
    """Queries per second in batches of `batch`, backends interleaved batch by batch."""
    seconds = dict.fromkeys(backends, 0.0)
    for i in range(0, len(texts), batch):
        for name, backend in backends.items():
            start = time.perf_counter()
            backend.encode(texts[i : i + batch])
            seconds[name] += time.perf_counter() - start
    return {name: round(len(texts) / s, 1) for name, s in seconds.items()}


def encode_all(backend: QueryBackend, texts: list[str], batch: int) -> np.ndarray:
    return np.concatenate([backend.encode(texts[i : i + batch]) for i in range(0, len(texts), batch)])


def neighbours(queries: np.ndarray, database: np.ndarray, k: int) -> np.ndarray:
    """Indices [N,k] of the k most similar database rows to each query row, the query's own row excluded."""
    scores = queries @ database.T
    np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def agreement(vectors: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Cosine to torch; neighbour recall@1/@10 against torch's neighbour lists (database: torch vectors)."""
    reference = vectors["torch"]
    truth = {k: neighbours(reference, reference, k) for k in (1, 10)}
    result = {}
    for name, found in vectors.items():
        cosine = (found * reference).sum(1)
        row: dict[str, float] = {
            "cosine_mean": round(float(cosine.mean()), 5),
            "cosine_min": round(float(cosine.min()), 5),
            "cosine_p1": round(float(np.percentile(cosine, 1)), 5),
        }
        for k, expected in truth.items():
            got = neighbours(found, reference, k)
            hits = [len(set(a) & set(b)) for a, b in zip(got.tolist(), expected.tolist(), strict=True)]
            row[f"neighbour_recall@{k}"] = round(sum(hits) / (k * len(hits)), 4)
        result[name] = row
    return result


def heldout(model_spec: str, videos: int, seed: int, cache_dir: Path, folder: Path) -> dict[str, Any]:
    """TVR metrics on a fresh synthetic corpus, through `SearchPipeline` with each backend (uncached)."""
    kairos = [sys.executable, "-m", "commands.cli"]  # as a user would (decode workers need a plain __main__)
    synth = [
        "synth",
        "--videos",
        str(videos),
        "--seed",
        str(seed),
        "--min-duration",
        "20",
        "--max-duration",
        "40",
    ]
    subprocess.run([*kairos, *synth, "--out", str(folder / "corpus")], check=True, capture_output=True)
    index = [
        "index",
        str(folder / "corpus" / "videos"),
        "--out",
        str(folder / "index"),
        "--model",
        model_spec,
    ]
    subprocess.run([*kairos, *index], check=True, capture_output=True)
    queries = [
        json.loads(line)
        for split in ("train", "val", "test")
        for line in (folder / "corpus" / "annotations" / f"{split}.jsonl").read_text().splitlines()
        if line.strip()
    ]
    snapshot = open_snapshot(folder / "index")
    model = resolve_model(model_spec).eval()
    fingerprint = model_fingerprint(model)
    metrics = Metrics()
    figures: dict[str, Any] = {}
    for name in BACKENDS:
        settings = Settings(query_encoder=name, query_encoder_dir=cache_dir, query_memo_size=0)
        cache = Cache(connect(settings.redis_url, settings.redis_timeout_s), metrics, ttl_s=0, retry_s=1.0)
        pipeline = SearchPipeline(model, fingerprint, cache, metrics, settings)
        start = time.perf_counter()
        found = run_evaluation(pipeline, snapshot, queries).metrics
        figures[name] = {
            task: {key: found[task][key] for task_, key in DECIDING if task_ == task}
            for task in ("VR", "VCMR")
        } | {"seconds": round(time.perf_counter() - start, 1)}
    deltas = {
        name: {
            f"{task} {key}": round(figures[name][task][key] - figures["torch"][task][key], 2)
            for task, key in DECIDING
        }
        for name in BACKENDS
    }
    return {
        "corpus": {"videos": videos, "seed": seed, "queries": len(queries), "durations_s": [20, 40]},
        "metrics": figures,
        "delta_to_torch_points": deltas,
    }


def markdown(result: dict[str, Any]) -> str:
    lat, thr, agr = result["latency_ms"], result["throughput_qps"], result["agreement"]
    held = result["heldout"]
    lines = [
        f"Query encoder backends, model `{result['model']}`, {result['queries']} TVR val descriptions, "
        f"{result['machine']['cpus']} CPUs (shared), one thread per library. Chosen default: "
        f"`{result['chosen']}` ({result['reason']}).",
        "",
        f"| backend | p50 ms | p99 ms | batch {result['batch']} q/s | cosine to torch (mean / min) | "
        "neighbour R@1 | neighbour R@10 | held-out VR R@1 | VR R@10 | VCMR 0.5 R@1 | VCMR 0.5 R@10 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in BACKENDS:
        m = held["metrics"][name]
        lines.append(
            f"| {name} | {lat[name]['p50']} | {lat[name]['p99']} | {thr[name]} | "
            f"{agr[name]['cosine_mean']} / {agr[name]['cosine_min']} | {agr[name]['neighbour_recall@1']} | "
            f"{agr[name]['neighbour_recall@10']} | {m['VR']['r1']} | {m['VR']['r10']} | "
            f"{m['VCMR']['0.5-r1']} | {m['VCMR']['0.5-r10']} |"
        )
    corpus = held["corpus"]
    lines += [
        "",
        f"Held-out: `kairos synth` seed {corpus['seed']}, {corpus['videos']} videos, "
        f"{corpus['queries']} queries "
        f"(TVR official metrics, %). int8 accepted: {result['int8_accepted']} (no deciding figure more than "
        f"{TOLERANCE} point below torch; differences: {held['delta_to_torch_points']['onnx-int8']}).",
        f"Export on a fresh machine: {result['export']}.",
        "",
        f"Command: `{result['command']}`",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(1)
    texts = [json.loads(line)["desc"] for line in TVR_VAL.read_text().splitlines()[: args.queries]]
    model = resolve_model(args.model).eval()
    with tempfile.TemporaryDirectory(prefix="kairos-qenc-") as tmp:
        folder = Path(tmp)
        export = export_costs(model, folder / "export")
        cache = folder / "cache"
        backends: dict[str, QueryBackend] = {n: load_query_backend(model, n, cache) for n in BACKENDS}
        lat = latency(backends, texts[: args.latency])
        thr = throughput(backends, texts, args.batch)
        vectors = {name: encode_all(backend, texts, 64) for name, backend in backends.items()}
        held = heldout(args.model, args.heldout_videos, args.heldout_seed, cache, folder / "heldout")
    int8_ok = all(d >= -TOLERANCE for d in held["delta_to_torch_points"]["onnx-int8"].values())
    candidates = [name for name in BACKENDS if name != "onnx-int8" or int8_ok]
    chosen = min(candidates, key=lambda name: lat[name]["p50"])
    return {
        "benchmark": "query_encoder",
        "command": "python benchmarks/query_encoder.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(vars(args).items())),
        "machine": machine(),
        "model": args.model,
        "queries": len(texts),
        "latency_queries": args.latency,
        "batch": args.batch,
        "export": export,
        "latency_ms": lat,
        "throughput_qps": thr,
        "agreement": agreement(vectors),
        "heldout": held,
        "int8_accepted": int8_ok,
        "chosen": chosen,
        "reason": "lowest single-query p50 among the backends whose retrieval holds within 1 point",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="kairos-small")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--latency", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--heldout-videos", type=int, default=40)
    parser.add_argument("--heldout-seed", type=int, default=12345)
    result = run(parser.parse_args())
    write_report(OUT, result, markdown(result))


if __name__ == "__main__":
    main()
