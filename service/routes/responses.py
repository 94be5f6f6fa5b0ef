"""The error responses every route documents (all in the one error shape)."""

from __future__ import annotations

from typing import Any

from service.schemas import ErrorBody

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Bad request"),
        (401, "API key missing or wrong (read keys are configured)"),
        (404, "Not found"),
        (413, "Request body too large"),
        (422, "Invalid request"),
        (429, "Rate limit of this key (or client address) reached: see Retry-After"),
        (503, "Not ready (no snapshot yet) or busy"),
    )
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"}
}
