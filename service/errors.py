"""One error shape for every 4xx and 5xx: `{"error": {"code", "message", "field"?, "request_id"}}`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.snapshot import VideoNotFoundError
from service.logs import HEADER, request_id

log = logging.getLogger(__name__)
BODY_PARSE_DETAIL = "There was an error parsing the body"  # FastAPI's 400 (bad UTF-8, JSON nested too deep)


class ApiError(Exception):
    """An error the client can act on: HTTP status, a stable code, a message, maybe the field at fault."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    rid = request_id.get()
    if rid is not None:
        error["request_id"] = rid
    return {"error": error}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """`("body", "top_k_videos")` → `"top_k_videos"`; `("query", "t")` → `"t"`."""
    parts = [str(part) for part in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else []
    return ".".join(parts) or None


def _validation_message(error: dict[str, Any]) -> str:
    field = _field_path(error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown field {field!r}; remove it" if field else "unknown field"
    if kind == "missing":
        return f"{field} is required" if field else "a request body is required"
    if kind in ("json_invalid", "model_attributes_type", "dict_type"):
        return "the body must be a JSON object"
    message = str(error.get("msg", "invalid value"))
    return f"{field}: {message}" if field else message


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    message = _validation_message(first)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return error_response(422, "invalid_request", message, _field_path(first.get("loc", ())))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = {
        404: "no such endpoint; see /docs for the API",
        405: "this method is not allowed here; see /docs for the API",
    }.get(status, phrase)
    if status == 400 and exc.detail == BODY_PARSE_DETAIL:
        code, message = (
            "invalid_body",
            "the request body cannot be parsed: send one UTF-8 JSON object, not deeply nested",
        )
    return error_response(status, code, message, headers=getattr(exc, "headers", None))


async def _video_not_found(_: Request, exc: Exception) -> JSONResponse:
    return error_response(404, "video_not_found", f"{exc}; list the indexed videos with GET /v1/videos")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    rid = request_id.get()  # this handler runs outside the middleware that echoes the id
    headers = {HEADER: rid} if rid is not None else None
    message = "the server failed to answer; the error is logged"
    return error_response(500, "internal_error", message, None, headers)


def install(app: FastAPI) -> None:
    """Register the handlers that map every error to the one shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(VideoNotFoundError, _video_not_found)
    app.add_exception_handler(Exception, _unexpected)
