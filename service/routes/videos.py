"""Videos of the served snapshot: list, get, delete, a thumbnail at t, the media file with byte ranges."""

from __future__ import annotations

import io
import mimetypes
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import FileResponse
from PIL import Image

from indexer.media import DataEndsError, MediaError, frame_at, letterbox
from indexer.snapshot import Snapshot, VideoRow, delete
from service.cache import cache_key
from service.errors import ApiError
from service.routes.deps import ReadAccess, ServicesDep, SnapshotDep, WriteAccess
from service.routes.responses import ERRORS, WRITE_ERRORS
from service.schemas import Deleted, Video, VideoPage

router = APIRouter(prefix="/v1/videos", tags=["videos"], responses=ERRORS, dependencies=[ReadAccess])
THUMB_WIDTH = 320
JPEG = {"content": {"image/jpeg": {}}, "description": "A JPEG of the frame at (or just before) t."}
MEDIA = {"content": {"video/mp4": {}}, "description": "The video file (206 for a byte range)."}
RANGE_ERRORS: dict[int | str, dict[str, Any]] = {416: ERRORS[422] | {"description": "Range not satisfiable"}}


def _video(row: VideoRow) -> Video:
    return Video(
        video_id=row.video_id,
        duration=row.duration,
        n_clips=row.n_clips,
        clip_seconds=row.clip_seconds,
        metadata=row.metadata,
    )


def _file(snapshot: Snapshot, video_id: str) -> tuple[VideoRow, Path]:
    """The indexed file of a video; only files recorded in the snapshot are ever served."""
    row = snapshot.video(video_id)
    path = Path(row.path)
    if not path.is_file():
        raise ApiError(404, "media_missing", f"the file of video {video_id!r} is no longer available")
    return row, path


@router.get("", summary="The indexed videos, one page at a time")
def list_videos(
    snapshot: SnapshotDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> VideoPage:
    rows = snapshot.videos(offset, limit)
    return VideoPage(
        videos=[_video(r) for r in rows],
        total=len(snapshot),
        offset=offset,
        limit=limit,
        snapshot=snapshot.version,
    )


@router.get("/{video_id}", summary="One indexed video")
def get_video(video_id: str, snapshot: SnapshotDep) -> Video:
    return _video(snapshot.video(video_id))


@router.delete(
    "/{video_id}",
    summary="Remove a video: publishes a new snapshot without it",
    dependencies=[WriteAccess],
    responses=WRITE_ERRORS,
)
def delete_video(video_id: str, snapshot: SnapshotDep, services: ServicesDep) -> Deleted:
    snapshot.index_of(video_id)  # 404 before any work
    info = delete(services.settings.snapshot_root, [video_id])
    services.snapshots.refresh()
    return Deleted(deleted=video_id, snapshot=info.version)


@router.get(
    "/{video_id}/thumbnail",
    summary="A JPEG of the video at t seconds",
    response_class=Response,
    responses={200: JPEG},
)
def thumbnail(
    video_id: str,
    snapshot: SnapshotDep,
    services: ServicesDep,
    t: Annotated[float, Query(ge=0, le=86_400, description="Seconds from the start.")] = 0.0,
) -> Response:
    row, path = _file(snapshot, video_id)
    if t > row.duration:
        raise ApiError(422, "invalid_request", f"t is past the end of the video ({row.duration:g} s)", "t")
    key = cache_key("thumb", row.content_hash, round(t, 1), THUMB_WIDTH)
    data = services.cache.get_bytes("thumbnail", key)
    if data is None:
        data = _render_thumbnail(path, t)
        services.cache.set_bytes(key, data)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


def _render_thumbnail(path: Path, t: float) -> bytes:
    """Seek to the frame on screen at t (the last one before it) and encode it as a JPEG."""
    try:
        _, image = frame_at(path, t)
    except DataEndsError as exc:
        message = f"the video's data ends at {exc.data_end:.2f} s (truncated file); ask for an earlier t"
        raise ApiError(422, "media_truncated", message, "t") from None
    except MediaError:
        raise ApiError(404, "media_unreadable", "the video file cannot be decoded any more") from None
    height, width = image.shape[:2]
    frame = letterbox(image, (THUMB_WIDTH, max(2, round(THUMB_WIDTH * height / max(width, 1)))))
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


@router.get(
    "/{video_id}/media",
    summary="The video file; supports HTTP range requests",
    response_class=FileResponse,
    responses={200: MEDIA, 206: MEDIA, **RANGE_ERRORS},
)
def media(
    video_id: str,
    snapshot: SnapshotDep,
    range_header: Annotated[str | None, Header(alias="range", description="e.g. bytes=0-1023")] = None,
) -> FileResponse:
    _, path = _file(snapshot, video_id)
    if range_header is not None:
        check_range(range_header, path.stat().st_size)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


MAX_RANGES = 16  # parts of one multipart range request (many tiny parts amplify the response)
MAX_RANGE_DIGITS = 19  # an offset past 10**19 bytes is nonsense (and int() of 4,300+ digits raises)


def check_range(header: str, size: int) -> None:
    """Refuse (in the one error shape) a Range header that is malformed (400) or outside the file (416)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        raise ApiError(400, "bad_range", "Range must look like bytes=START-END", "range")
    parts = spec.split(",")
    if len(parts) > MAX_RANGES:
        raise ApiError(400, "bad_range", f"at most {MAX_RANGES} ranges per request", "range")
    for part in parts:
        first, dash, last = part.strip().partition("-")
        if not dash or not (first or last) or not (first or "0").isdigit() or not (last or "0").isdigit():
            raise ApiError(400, "bad_range", "Range must look like bytes=START-END", "range")
        if len(first) > MAX_RANGE_DIGITS or len(last) > MAX_RANGE_DIGITS:
            raise ApiError(400, "bad_range", "a range offset has too many digits", "range")
        if first and last and int(first) > int(last):
            raise ApiError(400, "bad_range", "a range must not end before it starts", "range")
        if (first and int(first) >= size) or (not first and int(last) == 0):
            raise ApiError(
                416,
                "range_not_satisfiable",
                f"the file has {size} bytes",
                "range",
                {"Content-Range": f"bytes */{size}"},
            )
