"""What `make demo` answers: top-3 hits per query type and `took_ms`, over HTTP, on the demo corpus.

python benchmarks/demo_search.py [--root benchmarks/.work/demo]

Builds the demo exactly as `kairos demo` does (12 videos, seed 2026, indexed with the bundled model; reused
when --root already holds it), serves it with `kairos serve` and a throwaway Redis, and sends every annotated
query of the corpus (all splits) to `POST /v1/search` twice: uncached, then cached. A query is a top-3 hit
when one of the first three moments is in its video and overlaps its span with IoU >= 0.5. Writes
benchmarks/results/demo_search.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import KAIROS, RESULTS, kairos_server, machine, percentile, throwaway_redis, write_json
from models.tvr_metrics import temporal_iou


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent / ".work" / "demo")
    parser.add_argument("--out", type=Path, default=RESULTS / "demo_search.json")
    args = parser.parse_args()
    if not (args.root / "index" / "CURRENT").is_file():
        subprocess.run([KAIROS, "demo", "--root", str(args.root), "--no-serve"], check=True)
    rows = [
        json.loads(line)
        for path in sorted((args.root / "corpus" / "annotations").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    took: dict[str, list[float]] = {"uncached": [], "cached": []}
    hits: dict[str, list[bool]] = {}
    with (
        throwaway_redis() as redis_url,
        kairos_server(args.root / "index", redis_url) as (base, _),
        httpx.Client(base_url=base, timeout=60) as http,
    ):
        for kind in ("uncached", "cached"):
            for row in rows:
                answer = http.post("/v1/search", json={"query": row["desc"], "limit": 3}).json()
                took[kind].append(answer["took_ms"])
                if kind == "uncached":
                    found = any(
                        m["video_id"] == row["vid_name"]
                        and temporal_iou(np.array([[m["start"], m["end"]]]), np.array(row["ts"]))[0] >= 0.5
                        for m in answer["moments"]
                    )
                    hits.setdefault(row["type"], []).append(found)
    report: dict[str, Any] = {
        "benchmark": "demo_search",
        "machine": machine(),
        "queries": len(rows),
        "took_ms_p50": {kind: percentile(values, 0.5) for kind, values in took.items()},
        "took_ms_p99": {kind: percentile(values, 0.99) for kind, values in took.items()},
        "top3_hit_rate": {t: round(sum(v) / len(v), 3) for t, v in sorted(hits.items())},
        "queries_per_type": {t: len(v) for t, v in sorted(hits.items())},
    }
    write_json(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
