"""The error responses every route documents (all in the one error shape)."""

from __future__ import annotations

from typing import Any

from service.schemas import ErrorBody

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Bad request"),
        (404, "Not found"),
        (413, "Request body too large"),
        (422, "Invalid request"),
        (503, "Not ready (no snapshot yet) or busy"),
    )
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"}
}
