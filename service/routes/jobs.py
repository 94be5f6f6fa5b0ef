"""`POST /v1/index/jobs` and `GET /v1/index/jobs/{job_id}`."""

from __future__ import annotations

from fastapi import APIRouter

from service import jobs
from service.errors import ApiError
from service.routes.deps import ReadAccess, ServicesDep, WriteAccess
from service.routes.responses import ERRORS, WRITE_ERRORS
from service.schemas import IndexJob, IndexJobRequest

router = APIRouter(prefix="/v1/index/jobs", tags=["indexing"], responses=ERRORS, dependencies=[ReadAccess])


@router.post(
    "",
    status_code=202,
    summary="Index files or folders inside the allowed roots (run by `kairos worker`)",
    dependencies=[WriteAccess],
    responses=WRITE_ERRORS | {403: ERRORS[422] | {"description": "Indexing over HTTP is not configured"}},
)
def submit(body: IndexJobRequest, services: ServicesDep) -> IndexJob:
    check_path_text(body.paths)
    files = jobs.confine(body.paths, services.settings.allowed_roots)
    return jobs.submit(services.settings, services.redis, files)


@router.get("/{job_id}", summary="State and progress of an index job")
def status(job_id: str, services: ServicesDep) -> IndexJob:
    return jobs.status(services.settings, services.redis, job_id)


def check_path_text(paths: list[str]) -> None:
    """Refuse paths no file system can hold: a NUL byte, or a lone surrogate (not encodable as UTF-8)."""
    for i, raw in enumerate(paths):
        field = f"paths.{i}"
        if "\x00" in raw:
            raise ApiError(422, "path_refused", f"{field}: a path cannot contain a NUL character", field)
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(
                422, "path_refused", f"{field}: not valid Unicode text (a lone surrogate)", field
            ) from None
