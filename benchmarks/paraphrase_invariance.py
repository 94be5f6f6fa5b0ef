"""Paraphrase invariance on real language: does the query head keep the frozen sentence encoder's neighbours?

    python benchmarks/paraphrase_invariance.py [--tvr ../shared/data/tvr/tvr_val_release.jsonl]
        [--model kairos-small] [--compare NAME=DIR ...] [--anchors 1000] [--seed 0]
        [--out benchmarks/results/paraphrase_invariance.json]

The real TVR validation descriptions (10,895; distinct texts) are encoded once by the frozen all-MiniLM-L6-v2
encoder (pooled sentence vectors) and by the model's query head on the same features (`encode_query`, what
search ranks by). For a random sample of anchors, each one's nearest other description by the frozen
encoder is its paraphrase partner: real wordings a general-purpose encoder calls alike. Figures, each also
for a random Gaussian projection of the frozen vectors to the head's width (a reference that keeps
neighbourhoods by chance, without learning) and per band of the partner's frozen cosine:

- `partner_in_top_k`: share of anchors whose partner is among the head's k nearest of all other descriptions;
- `median_partner_rank` (1 = the head's nearest too); `top10_overlap`: mean share of the frozen encoder's 10
  nearest that are among the head's 10 nearest; `spearman`: mean over anchors of the rank correlation of the
  two similarities to every other description.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np  # noqa: E402
import torch  # noqa: E402

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from scipy.stats import rankdata  # noqa: E402

from benchmarks.common import RESULTS, TVR_VAL, write_report  # noqa: E402
from models.model import KairosModel  # noqa: E402
from models.pretrained import resolve_model  # noqa: E402
from service.search import normalise_query  # noqa: E402

TOP_KS = (1, 5, 10, 50)
BANDS = {"cos >= 0.8": (0.8, 1.01), "0.6 <= cos < 0.8": (0.6, 0.8), "cos < 0.6": (-1.01, 0.6)}
BATCH = 128


def read_descriptions(path: Path) -> list[str]:
    """The distinct `desc` texts of a TVR jsonl file, in file order; a clear exit if the file is missing."""
    if not path.is_file():
        raise SystemExit(
            f"TVR descriptions not found at {path}: pass --tvr PATH to tvr_val_release.jsonl "
            "(jayleicn/TVRetrieval data/, described in ../shared/data/tvr/README.md)"
        )
    texts = [
        normalise_query(json.loads(line)["desc"]) for line in path.open(encoding="utf-8") if line.strip()
    ]
    return list(dict.fromkeys(texts))


@torch.inference_mode()
def encode(models: Sequence[KairosModel], texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Frozen pooled sentence vectors [N, 384] and each model's query-head vectors [N, D], L2-normalised
    (the text encoder of the first model; all share it)."""
    frozen: list[np.ndarray] = []
    heads: list[list[np.ndarray]] = [[] for _ in models]
    for start in range(0, len(texts), BATCH):
        features = models[0].text_encoder(list(texts[start : start + BATCH]))
        frozen.append(features.pooled.float().cpu().numpy())
        for model, head in zip(models, heads, strict=True):
            head.append(model.encode_query(features).float().cpu().numpy())
    return _unit(np.concatenate(frozen)), [_unit(np.concatenate(head)) for head in heads]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def neighbourhoods(frozen: np.ndarray, other: np.ndarray, anchors: np.ndarray) -> dict[str, np.ndarray]:
    """Per anchor: the frozen partner's cosine, its rank by `other`, top-10 overlap and Spearman's rho."""
    sim_f, sim_o = frozen[anchors] @ frozen.T, other[anchors] @ other.T
    rows = np.arange(len(anchors))
    sim_f[rows, anchors], sim_o[rows, anchors] = -np.inf, -np.inf
    partner = sim_f.argmax(axis=1)
    rank = (sim_o > sim_o[rows, partner][:, None]).sum(axis=1) + 1
    top_f, top_o = np.argsort(-sim_f, axis=1)[:, :10], np.argsort(-sim_o, axis=1)[:, :10]
    overlap = np.array([len(np.intersect1d(a, b)) / 10 for a, b in zip(top_f, top_o, strict=True)])
    keep = np.ones(frozen.shape[0], dtype=bool)
    rho = np.empty(len(anchors))
    for i, anchor in enumerate(anchors):
        keep[anchor] = False
        rho[i] = np.corrcoef(rankdata(sim_f[i, keep]), rankdata(sim_o[i, keep]))[0, 1]
        keep[anchor] = True
    return {"cosine": sim_f[rows, partner], "rank": rank, "overlap": overlap, "spearman": rho}


def summarise(stats: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, Any]:
    """The figures over the anchors in `mask`."""
    rank = stats["rank"][mask]
    if not len(rank):
        return {"anchors": 0}
    return {
        "anchors": int(mask.sum()),
        "partner_in_top_k": {str(k): round(float((rank <= k).mean()), 4) for k in TOP_KS},
        "median_partner_rank": float(np.median(rank)),
        "top10_overlap": round(float(stats["overlap"][mask].mean()), 4),
        "spearman": round(float(stats["spearman"][mask].mean()), 4),
    }


def report(stats: dict[str, np.ndarray]) -> dict[str, Any]:
    """All anchors, then each band of the partner's frozen cosine."""
    cosine = stats["cosine"]
    out = {"all": summarise(stats, np.ones(len(cosine), dtype=bool))}
    return out | {name: summarise(stats, (cosine >= lo) & (cosine < hi)) for name, (lo, hi) in BANDS.items()}


def markdown(result: dict[str, Any]) -> str:
    """One table: query head vs random projection, per band."""
    lines = [
        f"Model `{result['model']}` on {result['descriptions']} real TVR val descriptions, "
        f"{result['anchors']} anchors, partner = nearest by the frozen MiniLM:",
        "",
        "| anchors | vectors | n | partner top-1 | top-10 | median rank | top-10 overlap | Spearman |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for band in ["all", *BANDS]:
        for name in ("query_head", "random_projection", *result.get("compared", {})):
            row = (result[name] if name in result else result["compared"][name])[band]
            if row["anchors"]:
                top = row["partner_in_top_k"]
                lines.append(
                    f"| {band} | {name} | {row['anchors']} | {top['1']:.3f} | {top['10']:.3f} | "
                    f"{row['median_partner_rank']:g} | {row['top10_overlap']:.3f} | {row['spearman']:.3f} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tvr", type=Path, default=TVR_VAL, help="TVR jsonl with `desc` (real queries)")
    parser.add_argument("--model", default="kairos-small", help="checkpoint folder or registry name")
    parser.add_argument(
        "--compare", nargs="*", default=[], help="NAME=DIR: other checkpoints' heads, same anchors"
    )
    parser.add_argument("--anchors", type=int, default=1000, help="descriptions sampled as anchors")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "paraphrase_invariance.json",
        help="JSON report (markdown beside it, .md)",
    )
    args = parser.parse_args(argv)
    texts = read_descriptions(args.tvr)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    compared = dict(item.split("=", 1) for item in args.compare)
    models = [resolve_model(name).eval() for name in [args.model, *compared.values()]]
    frozen, (head, *others) = encode(models, texts)
    encoded = time.perf_counter() - started
    rng = np.random.default_rng(args.seed)
    anchors = rng.choice(len(texts), size=min(args.anchors, len(texts)), replace=False)
    projection = _unit(frozen @ rng.standard_normal((frozen.shape[1], head.shape[1])).astype(np.float32))
    result: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "model": args.model,
        "tvr": str(args.tvr),
        "descriptions": len(texts),
        "anchors": len(anchors),
        "seed": args.seed,
        "dims": {"frozen": int(frozen.shape[1]), "query_head": int(head.shape[1])},
        "query_head": report(neighbourhoods(frozen, head, anchors)),
        "random_projection": report(neighbourhoods(frozen, projection, anchors)),
        "compared": {
            name: report(neighbourhoods(frozen, other, anchors))
            for name, other in zip(compared, others, strict=True)
        },
        "timings": {"encode_s": round(encoded, 1), "total_s": round(time.perf_counter() - started, 1)},
    }
    write_report(args.out, result, markdown(result))
    return result


if __name__ == "__main__":
    main()
