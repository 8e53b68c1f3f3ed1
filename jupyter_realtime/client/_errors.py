"""Typed exceptions of the client, one per error code of the wire protocol.

Public names: :class:`BadRequest`, :class:`Unauthorized`, :class:`Forbidden`,
:class:`NotFound`, :class:`TooLarge`, :class:`RateLimited`, :class:`Unavailable`,
:class:`Internal`, :class:`ConnectionLost`, :class:`GapError`, :class:`AmbiguousServer`,
:class:`NotRealtime`, :func:`error_for`.

Each subclasses :class:`jupyter_realtime.errors.RealtimeError` and carries the contract's
``code`` (``docs/protocol.md``, *Error codes*), so ``except RealtimeError`` catches them all
and ``exc.code`` tells them apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from websockets.exceptions import InvalidStatus

from ..errors import ErrorCode, RealtimeError
from ..protocol import Position

if TYPE_CHECKING:
    from ._discovery import Endpoint

__all__ = [
    "AmbiguousServer",
    "BadKey",
    "BadRequest",
    "ConnectionLost",
    "Forbidden",
    "GapError",
    "Internal",
    "NotFound",
    "NotRealtime",
    "RateLimited",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "close_error",
    "connect_error",
    "error_for",
]


class _CodedError(RealtimeError):
    default_code: ClassVar[ErrorCode]

    def __init__(self, message: str) -> None:
        super().__init__(self.default_code, message)

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return type(self), (self.message,)


class BadRequest(_CodedError):
    default_code = ErrorCode.BAD_REQUEST


class BadKey(BadRequest):
    """A publication ``key`` that is not 1 to 200 allowed characters (code ``bad_key``)."""

    default_code = ErrorCode.BAD_KEY


class Unauthorized(_CodedError):
    default_code = ErrorCode.UNAUTHORIZED


class Forbidden(_CodedError):
    default_code = ErrorCode.FORBIDDEN


class NotFound(_CodedError):
    default_code = ErrorCode.NOT_FOUND


class TooLarge(_CodedError):
    default_code = ErrorCode.TOO_LARGE


class RateLimited(_CodedError):
    default_code = ErrorCode.RATE_LIMITED


class Unavailable(_CodedError):
    default_code = ErrorCode.UNAVAILABLE


class Internal(_CodedError):
    default_code = ErrorCode.INTERNAL


class AmbiguousServer(BadRequest):
    """No server was named and the running servers differ in user or root dir: the client
    does not guess between them (the message lists them and how to choose one)."""


class NotRealtime(Unavailable):
    """Something answered at the URL, but not jupyter-realtime: a Jupyter server without the
    extension, a JupyterHub's own URL, another web server (the message says which)."""


class ConnectionLost(Unavailable):
    """The connection dropped after a command was sent and before its reply arrived.

    Whether the server ran the command is unknown (a publish may or may not have happened).
    """


class GapError(Unavailable):
    """A resumed subscription could not replay everything it missed (``recovered: false``).

    ``last`` is the last position this client had seen (None if it had seen none) and
    ``position`` the channel's newest position, from which delivery continues. The
    subscription stays open: reload what you need (e.g. with ``history``) and go on.
    """

    def __init__(self, channel: str, last: Position | None, position: Position) -> None:
        seen = f"{last.epoch}:{last.offset}" if last else "nothing"
        super().__init__(
            f"missed publications on {channel!r}: had seen {seen}, the history now starts "
            f"later (newest is {position.epoch}:{position.offset})"
        )
        self.channel = channel
        self.last = last
        self.position = position

    def __reduce__(self) -> tuple[type, tuple[str, Position | None, Position]]:  # type: ignore[override]
        return type(self), (self.channel, self.last, self.position)


_BY_CODE: dict[ErrorCode, type[_CodedError]] = {
    cls.default_code: cls
    for cls in (
        BadRequest,
        BadKey,
        Unauthorized,
        Forbidden,
        NotFound,
        TooLarge,
        RateLimited,
        Unavailable,
        Internal,
    )
}


def error_for(code: str, message: str) -> RealtimeError:
    """The typed exception for an error code of a reply (``internal`` for an unknown code)."""
    try:
        cls = _BY_CODE[ErrorCode(code)]
    except ValueError:
        return Internal(f"{code}: {message}")
    return cls(message)


def connect_error(failures: list[tuple[Endpoint, Exception]]) -> RealtimeError:
    """One error for every endpoint that failed: their type when they agree, else unavailable."""
    errors = [_failure(endpoint, exc) for endpoint, exc in failures]
    if len(errors) == 1:
        return errors[0]
    kind = type(errors[0]) if len({type(e) for e in errors}) == 1 else Unavailable
    return kind("; ".join(e.message for e in errors))


def _failure(endpoint: Endpoint, exc: Exception) -> _CodedError:
    if isinstance(exc, _CodedError):
        return exc  # explained already (``_probe``)
    status = exc.response.status_code if isinstance(exc, InvalidStatus) else 0
    if status == 401:
        return Unauthorized(f"{endpoint} asks for credentials: pass token=")
    if status == 403:
        return Forbidden(f"{endpoint} refused the token (403)")
    if status == 404:
        return NotFound(f"{endpoint.ws()} answered 404: is the jupyter_realtime extension enabled?")
    return Unavailable(f"cannot connect to {endpoint}: {exc or type(exc).__name__}")


def close_error(code: int, reason: str) -> RealtimeError:
    """Why the server closed the connection (``docs/protocol.md``, *Disconnects*)."""
    message = f"the server closed the connection ({code} {reason})".replace(" )", ")")
    if reason == "transport_disabled":
        return NotFound(message)
    if code >= 4500:
        return Forbidden(message)
    return ConnectionLost(message)
