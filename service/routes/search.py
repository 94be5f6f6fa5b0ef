"""`POST /v1/search`, `POST /v1/search/videos`, `POST /v1/videos/{video_id}/localize`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.routes.deps import PipelineDep, ReadAccess, SettingsDep, SnapshotDep, check_limits
from service.routes.responses import ERRORS
from service.schemas import (
    LocalizeRequest,
    SearchRequest,
    SearchResponse,
    VideoSearchRequest,
    VideoSearchResponse,
)

router = APIRouter(prefix="/v1", tags=["search"], responses=ERRORS, dependencies=[ReadAccess])


@router.post("/search", summary="Moments matching a sentence, over all videos", response_model=SearchResponse)
def search(
    body: SearchRequest, pipeline: PipelineDep, snapshot: SnapshotDep, settings: SettingsDep
) -> Response:
    check_limits(settings, body.query, body.limit, body.top_k_videos)
    return json_response(pipeline.search_json(body, snapshot))


@router.post(
    "/search/videos", summary="Videos matching a sentence (stage 1 only)", response_model=VideoSearchResponse
)
def search_videos(
    body: VideoSearchRequest, pipeline: PipelineDep, snapshot: SnapshotDep, settings: SettingsDep
) -> Response:
    check_limits(settings, body.query, top_k=body.limit)
    return json_response(pipeline.search_videos_json(body, snapshot))


@router.post(
    "/videos/{video_id}/localize",
    summary="Moments matching a sentence in one video (stage 2 only)",
    response_model=SearchResponse,
)
def localize(
    video_id: str, body: LocalizeRequest, pipeline: PipelineDep, snapshot: SnapshotDep, settings: SettingsDep
) -> Response:
    check_limits(settings, body.query, body.limit)
    return json_response(pipeline.localize_json(video_id, body, snapshot))


def json_response(body: bytes) -> Response:
    """The pipeline's JSON as it is: FastAPI neither validates nor serialises it again."""
    return Response(body, media_type="application/json")
