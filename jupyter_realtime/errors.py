"""Error codes and disconnect reasons of the wire protocol (v1), as data.

Public names: :class:`ErrorCode`, :class:`RealtimeError`, :class:`Disconnect` and the
disconnect constants. Imports nothing of the project, so every layer (and the client) can
use it. ``docs/protocol.md`` is the reference for what each code means on the wire.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "BAD_FRAMES",
    "FORBIDDEN",
    "SESSION_EXPIRED",
    "SHUTDOWN",
    "SLOW_CONSUMER",
    "TOO_MANY_CONNECTIONS",
    "TRANSPORT_DISABLED",
    "Disconnect",
    "ErrorCode",
    "RealtimeError",
]


class ErrorCode(str, enum.Enum):
    """The error codes of a reply, each with its HTTP status."""

    BAD_REQUEST = "bad_request"
    BAD_KEY = "bad_key"  # a publication key (``key``) that is not 1-200 allowed characters
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]


_HTTP_STATUS = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.BAD_KEY: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class RealtimeError(Exception):
    """The root exception: an error that travels to the client as ``{code, message}``."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}

    def __repr__(self) -> str:
        return f"RealtimeError({self.code.value!r}, {self.message!r})"


@dataclass(frozen=True)
class Disconnect:
    """Why the server closed a connection.

    Codes 4000-4499 allow the client to reconnect (and recover with ``since``);
    4500-4999 are terminal. 1001 is the WebSocket "going away" at shutdown.
    """

    code: int
    reason: str

    @property
    def reconnect(self) -> bool:
        return self.code < 4500

    def to_event(self) -> dict[str, object]:
        return {
            "event": "disconnect",
            "code": self.code,
            "reason": self.reason,
            "reconnect": self.reconnect,
        }


SHUTDOWN = Disconnect(1001, "shutdown")
SLOW_CONSUMER = Disconnect(4000, "slow_consumer")
SESSION_EXPIRED = Disconnect(4001, "session_expired")
BAD_FRAMES = Disconnect(4002, "bad_frames")
TOO_MANY_CONNECTIONS = Disconnect(4004, "too_many_connections")
FORBIDDEN = Disconnect(4500, "forbidden")
TRANSPORT_DISABLED = Disconnect(4501, "transport_disabled")
