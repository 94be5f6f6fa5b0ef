"""Service settings: one class, read from `KAIROS_*` environment variables, validated at start-up."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Hard caps of the HTTP schema (the contract in openapi.yaml); settings may only lower them.
MAX_QUERY_CHARS = 500
MAX_TOP_K_VIDEOS = 1000
MAX_LIMIT = 100

Stage1Mode = Literal["segments", "video"]
LineRetrieval = Literal["on", "off", "only"]
QueryEncoder = Literal["torch", "onnx-fp32", "onnx-int8"]  # = models.query_backends.BACKENDS (tested)
Role = Literal["write", "read"]


class Settings(BaseSettings):
    """Everything the API and the worker need; `KAIROS_SNAPSHOT_ROOT=/data/index` sets `snapshot_root`."""

    model_config = SettingsConfigDict(env_prefix="KAIROS_", extra="forbid", frozen=True)

    snapshot_root: Path = Path("index")
    model: str = "kairos-real"  # models.pretrained.DEFAULT_MODEL (a test keeps them equal)
    device: str = "cpu"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = Field(default=0.1, gt=0, le=5)  # socket and connect timeout of every call
    redis_retry_s: float = Field(default=1.0, ge=0, le=60)  # after a Redis error, skip Redis this long
    api_key: SecretStr | None = None  # write endpoints need it when set (opens the read endpoints too)
    # Keys for the read endpoints (`KAIROS_READ_API_KEYS=k1,k2`); when any is set, reads need one of them.
    read_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    insecure_no_auth: bool = False  # lets `kairos serve` listen beyond loopback with no API key
    rate_limit_per_s: float = Field(default=0.0, ge=0, le=100_000)  # per key (or client address); 0 = off
    rate_limit_burst: int = Field(default=20, ge=1, le=100_000)  # requests a quiet caller may send at once
    log_json: bool = False  # one JSON object per log line instead of text
    allowed_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list
    )  # folders index jobs may read
    cache_ttl_s: int = Field(default=3600, ge=0, le=30 * 24 * 3600)  # 0 disables the cache
    max_query_chars: int = Field(default=MAX_QUERY_CHARS, ge=1, le=MAX_QUERY_CHARS)
    max_top_k_videos: int = Field(default=MAX_TOP_K_VIDEOS, ge=1, le=MAX_TOP_K_VIDEOS)
    max_limit: int = Field(default=MAX_LIMIT, ge=1, le=MAX_LIMIT)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_in_flight: int = Field(default=16, ge=1, le=10_000)  # requests served at once; more get 503
    reload_interval_s: float = Field(default=1.0, gt=0, le=3600)  # how often CURRENT is polled
    stage1: Stage1Mode = "segments"  # video score: best segment similarity, or the video vector
    softmax_temperature: float = Field(default=0.1, gt=0, le=10)  # of the video scores in the ranking
    # Stage-1 line retrieval (benchmarks/results/line_fusion.md): "on" fuses the segment index's candidate
    # videos with those of every stream's lines (the best `line_candidates` lines by sentence vector and by
    # BM25, reciprocal-rank fusion with `line_rrf_k`), ranked with `line_temperature`; "off": segments only;
    # "only": lines only (an ablation). Snapshots without line vectors search their segments only. A line
    # counts only at cosine >= `line_min_similarity` to the query (`line_min_word_similarity` when found by
    # BM25; held-out synthetic queries, 10th-90th percentile of the best line: visual ones 0.16-0.26, spoken
    # ones 0.47-0.71); where none does, stage 1 is the segments' alone. With `line_moments`, each line found
    # takes the place of the moment head's span of the clips it covers, with that span's score
    # (service.search: the head decides how far a moment reaches, the line gives finer bounds). k, temperature
    # and the gates were chosen on the held-out val split.
    line_retrieval: LineRetrieval = "on"
    line_candidates: int = Field(default=100, ge=1, le=10_000)
    line_rrf_k: int = Field(default=10, ge=1, le=10_000)
    line_temperature: float = Field(default=0.05, gt=0, le=10)
    line_min_similarity: float = Field(default=0.3, ge=-1, le=1)
    line_min_word_similarity: float = Field(default=0.2, ge=-1, le=1)
    line_moments: bool = True
    # The moment head scores the best max(limit, stage2_videos) candidates of stage 1 (docs/NOTES.md)
    stage2_videos: int = Field(default=10, ge=1, le=MAX_TOP_K_VIDEOS)
    # Query encoding (benchmarks/results/query_encoder.md, microbatch.json): the backend, where ONNX exports
    # are cached (None: ~/.cache/kairos/onnx), micro-batching wait (0 = off) and batch size, the memo size.
    query_encoder: QueryEncoder = "onnx-int8"
    query_encoder_dir: Path | None = None
    query_batch_wait_ms: float = Field(default=0.0, ge=0, le=50)
    query_batch_max: int = Field(default=32, ge=1, le=1024)
    query_memo_size: int = Field(default=4096, ge=0, le=1_000_000)  # vectors kept in process; 0 = off
    queue_name: str = "kairos-index"
    job_timeout_s: int = Field(default=6 * 3600, ge=10)
    index_workers: int = Field(default=1, ge=1, le=64)  # decode processes of one index job

    @field_validator("allowed_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        """Accept `KAIROS_ALLOWED_ROOTS=/a:/b` (or a comma list) besides a JSON list."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part for part in value.replace(",", ":").split(":") if part.strip()]
        return value

    @field_validator("read_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        """Accept `KAIROS_READ_API_KEYS=k1,k2` besides a JSON list; empty means none."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        """`KAIROS_API_KEY=` (empty, as compose passes an unset variable) means no key."""
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _check_roots(self) -> Settings:
        for root in self.allowed_roots:
            if not root.is_absolute():
                raise ValueError(f"allowed_roots must be absolute paths, got {str(root)!r}")
        return self

    def caller(self, key: str | None) -> Caller:
        """Who presented `key`: compared in constant time with every configured key; the key is never kept."""
        if key is None:
            return Caller(None, None)
        presented = key.encode()
        roles: list[tuple[Role, SecretStr]] = [("write", self.api_key)] if self.api_key is not None else []
        roles += [("read", k) for k in self.read_api_keys]
        for role, secret in roles:
            expected = secret.get_secret_value().encode()
            if hmac.compare_digest(presented, expected):
                return Caller(role, "key:" + hashlib.sha256(expected).hexdigest()[:16])
        return Caller(None, None)

    def can_read(self, caller: Caller) -> bool:
        """Whether a caller may use the read endpoints (anyone, unless read keys are configured)."""
        return not self.read_api_keys or caller.role is not None

    def exposure_problem(self, host: str) -> str | None:
        """Why serving on `host` is unsafe (beyond loopback, no API key, no opt-out), or None."""
        if self.api_key is not None or self.insecure_no_auth or is_loopback(host):
            return None
        return (
            f"refusing to listen on {host!r} (beyond loopback) with the write endpoints open: set "
            "KAIROS_API_KEY, or pass --insecure-no-auth (KAIROS_INSECURE_NO_AUTH=true) to run without one"
        )


@dataclass(frozen=True)
class Caller:
    """The role of a presented key ("write", "read" or None) and its rate-limit bucket (a hash of it)."""

    role: Role | None
    bucket: str | None


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (`localhost`, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
