"""Request and response bodies of the HTTP API (the contract in openapi.yaml); unknown fields are refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.settings import MAX_LIMIT, MAX_QUERY_CHARS, MAX_TOP_K_VIDEOS

VideoId = str
StreamName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


def streams_field() -> Any:
    """The `streams` field of a search request."""
    return Field(
        None,
        min_length=1,
        max_length=16,
        description='Streams whose lines may match in stage 1, e.g. ["subtitles", "ocr"]; default all.',
    )


class Strict(BaseModel):
    """A request body: unknown fields refused, no coercion (`true` is not 1, `"3"` is not 3)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class MomentBounds(Strict):
    min_seconds: float | None = Field(default=None, ge=0, le=86_400, description="Shortest moment to return.")
    max_seconds: float | None = Field(default=None, gt=0, le=86_400, description="Longest moment to return.")
    min_score: float = Field(default=0.0, ge=0, le=1, description="Leave out moments whose score is lower.")
    max_per_video: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LIMIT,
        description="At most this many moments of one video (group by video).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> MomentBounds:
        if (
            self.min_seconds is not None
            and self.max_seconds is not None
            and self.min_seconds > self.max_seconds
        ):
            raise ValueError("min_seconds must not exceed max_seconds")
        return self


class SearchRequest(MomentBounds):
    query: str = Field(
        ..., min_length=1, max_length=MAX_QUERY_CHARS, description="What happens in the moment."
    )
    top_k_videos: int = Field(default=100, ge=1, le=MAX_TOP_K_VIDEOS, description="Stage-1 candidate videos.")
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT, description="Moments to return.")
    video_ids: list[VideoId] | None = Field(
        None, min_length=1, max_length=MAX_TOP_K_VIDEOS, description="Search only these videos."
    )
    streams: list[StreamName] | None = streams_field()


class VideoSearchRequest(Strict):
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)
    limit: int = Field(default=10, ge=1, le=MAX_TOP_K_VIDEOS, description="Videos to return.")
    streams: list[StreamName] | None = streams_field()


class LocalizeRequest(MomentBounds):
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT, description="Moments to return.")


class Timings(BaseModel):
    """Wall and CPU (the answering thread's) milliseconds of each stage; zeros for a cached answer."""

    encode_ms: float = 0.0
    stage1_ms: float = 0.0
    stage2_ms: float = 0.0
    encode_cpu_ms: float = 0.0
    stage1_cpu_ms: float = 0.0
    stage2_cpu_ms: float = 0.0


class MatchedLine(BaseModel):
    stream: str = Field(description='The stream the line belongs to, e.g. "concepts" (what was seen).')
    text: str
    start: float = Field(description="Seconds from the start of the video.")
    end: float = Field(description="Seconds.")


class Moment(BaseModel):
    video_id: VideoId
    start: float = Field(description="Seconds from the start of the video.")
    end: float = Field(description="Seconds; end > start.")
    score: float = Field(
        description="Combined score in (0, 1]: video probability among the candidates x moment."
    )
    video_score: float = Field(description="Stage-1 similarity of the query to the video (cosine).")
    moment_score: float = Field(description="Moment head score of the span in (0, 1].")
    video_duration: float = Field(description="Seconds: the whole video's length, for a timeline.")
    matched: list[MatchedLine] = Field(
        default_factory=list,
        description="Each stream's line at the moment's clip most similar to the query: why it matched.",
    )


class VideoHit(BaseModel):
    video_id: VideoId
    score: float = Field(description="Stage-1 similarity of the query to the video (cosine).")


class Answer(BaseModel):
    took_ms: float
    snapshot: str = Field(description="Version of the snapshot that answered.")
    cached: bool
    timings: Timings


class SearchResponse(Answer):
    moments: list[Moment]


class VideoSearchResponse(Answer):
    videos: list[VideoHit]


class Video(BaseModel):
    video_id: VideoId
    duration: float
    n_clips: int
    clip_seconds: float
    metadata: dict[str, Any]


class VideoPage(BaseModel):
    videos: list[Video]
    total: int
    offset: int
    limit: int
    snapshot: str


class Deleted(BaseModel):
    deleted: VideoId
    snapshot: str = Field(description="The new snapshot version, already being served.")


class IndexJobRequest(Strict):
    paths: list[str] = Field(
        ...,
        min_length=1,
        max_length=10_000,
        description="Files or folders inside an allowed root; relative paths are taken from the first root.",
    )


JobState = Literal["queued", "started", "finished", "failed", "stopped", "canceled", "deferred", "scheduled"]


class IndexJob(BaseModel):
    id: str
    state: JobState
    progress: float | None = Field(
        default=None, description="Fraction of the sources done, 0..1, when known."
    )
    done: int | None = Field(default=None, description="Sources done (indexed, reused or failed).")
    total: int | None = Field(default=None, description="Sources of the job.")
    message: str | None = None
    error: str | None = Field(default=None, description="Why the job failed.")
    report: dict[str, Any] | None = Field(default=None, description="The indexing report once finished.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    snapshot: str | None
    redis: Literal["ok", "down"]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
