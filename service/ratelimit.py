"""Token-bucket rate limits per caller: one Lua script in Redis (shared by every replica), per process while
Redis is unreachable (then each process allows the full rate: the limit is looser, never absent)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict

import redis

from service.cache import LOG_EVERY_S, PREFIX

log = logging.getLogger(__name__)
LOCAL_BUCKETS = 10_000  # callers remembered per process while Redis is down (least recently seen dropped)
# KEYS[1] bucket; ARGV rate/s, burst. Redis's clock, so replicas agree. Returns {allowed, seconds to wait}.
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RateLimiter:
    """`wait(bucket)`: 0.0 when the caller may go on (a token is taken), else the seconds until it may."""

    def __init__(self, client: redis.Redis, rate_per_s: float, burst: int, retry_s: float) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.retry_s = retry_s
        self._script = client.register_script(TOKEN_BUCKET)
        self._down_until = 0.0
        self._last_log = -LOG_EVERY_S
        self._local: OrderedDict[str, tuple[float, float]] = OrderedDict()  # bucket → (tokens, at)
        self._lock = threading.Lock()

    def wait(self, bucket: str) -> float:
        if time.monotonic() >= self._down_until:
            try:
                allowed, wait = self._script(keys=[f"{PREFIX}rate:{bucket}"], args=[self.rate, self.burst])
                return 0.0 if int(allowed) else float(wait)
            except (redis.RedisError, OSError) as exc:
                now = time.monotonic()
                self._down_until = now + self.retry_s
                if now - self._last_log >= LOG_EVERY_S:  # at most one line per 30 s of outage
                    self._last_log = now
                    log.warning("rate limits fall back to this process: redis unavailable (%s)", exc)
        return self._wait_here(bucket)

    def _wait_here(self, bucket: str) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._local.pop(bucket, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._local[bucket] = (tokens - 1 if tokens >= 1 else tokens, now)
            while len(self._local) > LOCAL_BUCKETS:
                self._local.popitem(last=False)
        return wait


def retry_after(wait_s: float) -> str:
    """The `Retry-After` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
