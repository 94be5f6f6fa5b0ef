"""Prometheus metrics of one app: latency per search stage, cache hits and misses, Redis errors, snapshot."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The app's metrics in their own registry, so that several apps (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage_seconds = Histogram(
            "kairos_search_stage_seconds",
            "Latency of one search stage (encode, stage1, stage2) and of the whole search (total).",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            "kairos_cache_requests",
            "Redis cache look-ups by kind (response, query_vector) and result (hit, miss, error).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "kairos_redis_errors",
            "Redis calls that failed (the request went on uncached).",
            registry=self.registry,
        )
        self.requests = Counter(
            "kairos_http_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "kairos_http_rejected",
            "Requests refused at the door, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.snapshot = Gauge(
            "kairos_snapshot_info",
            "The snapshot being served (value 1, version label).",
            ["version"],
            registry=self.registry,
        )
        self.snapshot_seq = Gauge(
            "kairos_snapshot_sequence",
            "Sequence number of the snapshot being served (0: none).",
            registry=self.registry,
        )
        self.reloads = Counter(
            "kairos_snapshot_reloads",
            "Snapshot reloads by result (ok, error).",
            ["result"],
            registry=self.registry,
        )

    def set_snapshot(self, version: str | None, seq: int) -> None:
        self.snapshot.clear()
        if version is not None:
            self.snapshot.labels(version=version).set(1)
        self.snapshot_seq.set(seq)

    def render(self) -> bytes:
        return generate_latest(self.registry)
