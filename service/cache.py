"""Redis in front of search: whole responses and query vectors, keyed so a new snapshot never hits old keys.

Redis is optional at run time: every call has a short socket timeout, a failure opens a breaker for
`redis_retry_s` (no Redis call at all meanwhile), it is logged at most once every 30 s and counted, and the
next call after the pause reconnects by itself (redis-py's pool opens a fresh connection).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.metrics import Metrics

log = logging.getLogger(__name__)
LOG_EVERY_S = 30.0
PREFIX = "kairos:v1:"


def connect(url: str, timeout_s: float) -> redis.Redis:
    """A client that fails fast: short timeouts and no retries (the breaker decides when to try again)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def cache_key(kind: str, *parts: Any) -> str:
    """`kairos:v1:<kind>:<sha256 of the parts as canonical JSON>`."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return f"{PREFIX}{kind}:{hashlib.sha256(blob.encode()).hexdigest()}"


class Cache:
    """Get/set of answers (JSON bytes) and float32 vectors, degrading to misses while Redis is unreachable."""

    def __init__(self, client: redis.Redis, metrics: Metrics, ttl_s: int, retry_s: float) -> None:
        self.client = client
        self.metrics = metrics
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self._down_until = 0.0
        self._last_log = -LOG_EVERY_S
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        self.metrics.redis_errors.inc()
        now = time.monotonic()
        with self._lock:
            self._down_until = now + self.retry_s
            if now - self._last_log >= LOG_EVERY_S:
                self._last_log = now
                log.warning("redis unavailable (%s); serving uncached, retrying in %.1fs", exc, self.retry_s)

    def ping(self) -> bool:
        """Ask Redis now, ignoring the breaker (readiness); a success closes the breaker."""
        try:
            self.client.ping()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return False
        self._down_until = 0.0
        return True

    def _get(self, key: str) -> bytes | None:
        if not self.available:
            return None
        try:
            value = self.client.get(key)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return None
        return value if isinstance(value, bytes) else None

    def _set(self, key: str, value: bytes) -> None:
        if self.ttl_s <= 0 or not self.available:
            return
        try:
            self.client.set(key, value, ex=self.ttl_s)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    def _count(self, kind: str, hit: bool) -> None:
        result = "hit" if hit else ("miss" if self.available else "error")
        self.metrics.cache.labels(kind=kind, result=result).inc()

    def get_bytes(self, kind: str, key: str) -> bytes | None:
        raw = self._get(key) if self.ttl_s > 0 else None
        self._count(kind, raw is not None)
        return raw

    def set_bytes(self, key: str, value: bytes) -> None:
        self._set(key, value)

    def get_vector(self, key: str, dim: int) -> np.ndarray | None:
        raw = self._get(key) if self.ttl_s > 0 else None
        vector = np.frombuffer(raw, dtype=np.float32) if raw is not None else None
        hit = vector is not None and vector.size == dim
        self._count("query_vector", hit)
        return vector if hit else None

    def set_vector(self, key: str, vector: np.ndarray) -> None:
        self._set(key, np.ascontiguousarray(vector, dtype=np.float32).tobytes())
