"""How many stage-1 candidates the moment head must score: VCMR quality and time against the budget.

python benchmarks/stage2_budget.py --snapshot INDEX --queries A.jsonl [B.jsonl ...] [--n 500]
                                   [--budgets 100,20,10] [--limit 100]

For each budget B, the moment head scores only the B best stage-1 candidates and returns `limit` moments (100,
as the TVR evaluation asks), over a sample of the annotated queries (seed 0); VCMR is scored with TVR's
official metrics. If R@1 and R@10 do not move as B falls to 10, moments of lower-ranked videos never reached
the top 10, which is what `KAIROS_STAGE2_VIDEOS` (default 10) relies on: a request for `limit` moments has
its best max(limit, stage2_videos) candidates scored. Writes benchmarks/results/stage2_budget.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import redis
import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine, write_json
from indexer.snapshot import open_snapshot
from models.pretrained import model_fingerprint, resolve_model
from models.tvr_metrics import evaluate_submission
from service.cache import Cache
from service.metrics import Metrics
from service.schemas import SearchRequest
from service.search import SearchPipeline
from service.settings import Settings

KEYS = ("0.5-r1", "0.5-r10", "0.5-r100", "0.7-r1", "0.7-r10")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshot", type=Path, required=True)
    parser.add_argument("--queries", type=Path, nargs="+", required=True)
    parser.add_argument("--model", default="kairos-small")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--budgets", default="100,20,10")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS / "stage2_budget.json")
    args = parser.parse_args()
    torch.set_num_threads(1)

    snapshot = open_snapshot(args.snapshot)
    rows = [
        json.loads(line) for path in args.queries for line in path.read_text().splitlines() if line.strip()
    ]
    rows = [row for row in rows if row["vid_name"] in snapshot]
    random.Random(0).shuffle(rows)
    rows = rows[: args.n]
    model = resolve_model(args.model)
    metrics = Metrics()
    cache = Cache(redis.Redis.from_url("redis://127.0.0.1:1/0"), metrics, ttl_s=0, retry_s=1e9)  # no cache
    video2idx = {video_id: i for i, video_id in enumerate(snapshot.video_ids)}
    results: list[dict[str, Any]] = []
    for budget in (int(b) for b in args.budgets.split(",")):
        settings = Settings(snapshot_root=args.snapshot, stage2_videos=1000, query_encoder="torch")
        pipeline = SearchPipeline(model, model_fingerprint(model), cache, metrics, settings)
        started, vcmr = time.perf_counter(), []
        for row in rows:
            q = pipeline.encode(row["desc"])
            request = SearchRequest(query=row["desc"], limit=args.limit, video_ids=None)
            candidates = pipeline.stage1(snapshot, q, budget)
            found = pipeline.stage2(snapshot, q, candidates, args.limit, request)
            predictions = [[video2idx[m.video_id], m.start, m.end, m.score] for m in found]
            vcmr.append({"desc_id": row["desc_id"], "desc": row["desc"], "predictions": predictions})
        seconds = time.perf_counter() - started
        scores = evaluate_submission({"video2idx": video2idx, "VCMR": vcmr}, rows)["VCMR"]
        results.append(
            {"videos_scored": budget, "ms_per_query": round(seconds / len(rows) * 1000, 1)}
            | {f"VCMR {k}": scores[k] for k in KEYS}
        )
        print(results[-1], flush=True)
    write_json(
        args.out,
        {
            "benchmark": "stage2_budget",
            "machine": machine(),
            "snapshot": str(args.snapshot),
            "queries": len(rows),
            "limit": args.limit,
            "rows": results,
        },
    )


if __name__ == "__main__":
    main()
