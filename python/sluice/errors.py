"""The errors the client raises: one class per gRPC / HTTP error kind, each
carrying the server's one-line message."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Iterator, Optional

import pyarrow as pa
import pyarrow.flight as flight

__all__ = [
    "SluiceError",
    "NotFound",
    "InvalidArgument",
    "Unauthenticated",
    "PermissionDenied",
    "Unavailable",
    "translated",
    "from_http",
]


class SluiceError(Exception):
    """Any error the server answered (or the client met talking to it).

    ``message`` is the server's one-line message; ``code`` names the kind
    (``NOT_FOUND``, ``INVALID_ARGUMENT``, ...; ``INTERNAL`` and ``UNKNOWN``
    for the rest); ``status`` is the HTTP status for HTTP calls.
    """

    code = "UNKNOWN"

    def __init__(self, message: str, *, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class NotFound(SluiceError):
    """An unknown feature group, view, dataset, split or model (gRPC NOT_FOUND, HTTP 404)."""

    code = "NOT_FOUND"


class InvalidArgument(SluiceError):
    """A malformed ticket, query or upload (gRPC INVALID_ARGUMENT, HTTP 400/422)."""

    code = "INVALID_ARGUMENT"


class Unauthenticated(SluiceError):
    """No API key, or one the server does not know (gRPC UNAUTHENTICATED, HTTP 401)."""

    code = "UNAUTHENTICATED"


class PermissionDenied(SluiceError):
    """The key lacks the scope the call needs (gRPC PERMISSION_DENIED, HTTP 403)."""

    code = "PERMISSION_DENIED"


class Unavailable(SluiceError):
    """The server cannot be reached or sheds load (gRPC UNAVAILABLE, HTTP 503)."""

    code = "UNAVAILABLE"


# pyarrow puts this before the server's message ...
_PREFIX = re.compile(r"^Flight returned [\w ]+ error, with message: ")
# ... and appends context after these markers.
_APPENDED = (". Detail:", ". gRPC client debug context:", ". Client context:")


def _server_message(error: BaseException) -> str:
    """The server's message without the context pyarrow adds after it."""
    first = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
    cut = len(first)
    for marker in _APPENDED:
        at = first.find(marker)
        if at >= 0:
            cut = min(cut, at)
    return _PREFIX.sub("", first[:cut].strip())


def from_flight(error: BaseException) -> SluiceError:
    """The :class:`SluiceError` for a pyarrow Flight exception (by gRPC code)."""
    message = _server_message(error)
    if isinstance(error, flight.FlightUnauthenticatedError):
        return Unauthenticated(message)
    if isinstance(error, flight.FlightUnauthorizedError):
        return PermissionDenied(message)
    if isinstance(error, flight.FlightUnavailableError):
        return Unavailable(message)
    if isinstance(error, pa.ArrowKeyError):
        return NotFound(message)
    if isinstance(error, pa.ArrowInvalid):
        return InvalidArgument(message)
    internal = SluiceError(message)
    if isinstance(error, flight.FlightInternalError):
        internal.code = "INTERNAL"
    return internal


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raises pyarrow Flight errors met inside the block as :class:`SluiceError`."""
    try:
        yield
    except SluiceError:
        raise
    except pa.ArrowException as error:
        raise from_flight(error) from error


def from_http(status: int, body: bytes) -> SluiceError:
    """The :class:`SluiceError` for an HTTP error answer (``{"error": "..."}``)."""
    try:
        message = str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    kind = {
        400: InvalidArgument,
        401: Unauthenticated,
        403: PermissionDenied,
        404: NotFound,
        413: InvalidArgument,
        422: InvalidArgument,
        503: Unavailable,
    }.get(status, SluiceError)
    return kind(message, status=status)
