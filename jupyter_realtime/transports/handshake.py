"""Letting go of what a long-lived connection kept only for its handshake.

Public name: :func:`forget_handshake`. A WebSocket or a stream (SSE, XHR streaming) stays
open for hours; its Tornado/Jupyter handler keeps the request and response headers, the
cookies, the query arguments and Jupyter's authentication state for all that time, though
nothing reads them once the session exists and the response headers are out. Thousands
of idle connections each carried several KiB of it (``docs/performance.md``).
"""

from __future__ import annotations

from typing import Any

from tornado import httputil

from ._compat import forget_request_state, forget_response_headers, forget_user

__all__ = ["forget_handshake"]


class _NoHeaders(httputil.HTTPHeaders):
    """Empty, and stays so: one instance shared by every connection whose headers are out.
    Writes are ignored (Jupyter's ``APIHandler.finish`` still sets a Content-Type on a
    response whose headers went out long before; it is never sent)."""

    def __setitem__(self, name: str, value: str) -> None:
        pass

    def add(self, name: str, value: str, **kwargs: Any) -> None:
        pass


# Tornado reads the request headers only until the response headers are written
_NO_HEADERS = _NoHeaders()
_NO_ARGUMENTS: dict[str, list[bytes]] = {}

# the handler's attributes only the handshake and the session's creation read (tornado's
# private ones are dropped by ``_compat``)
_HANDLER_STATE = ("_token_holder", "_may_publish", "_realtime_anonymous_user", "path_args",
                  "path_kwargs", "open_args", "open_kwargs")


def forget_handshake(handler: Any, *, keep_user: bool = True) -> None:
    """Drop the headers, cookies, arguments and authentication leftovers of ``handler``,
    whose response headers have been written and whose session exists.

    ``keep_user``: keep a user object with only the name, for a response that is still to
    be logged (Jupyter's request log reads ``current_user`` when a stream ends); a
    WebSocket's handshake was logged when it was answered, and its session has the
    identity, so it keeps none.
    """
    forget_response_headers(handler, _NO_HEADERS)
    state = handler.__dict__
    for name in _HANDLER_STATE:
        state.pop(name, None)
    forget_user(handler, keep_name=keep_user)
    request = handler.request
    request.headers = _NO_HEADERS
    request.body = b""
    request.arguments = request.query_arguments = request.body_arguments = _NO_ARGUMENTS
    request.files = _NO_ARGUMENTS
    forget_request_state(request, _NO_HEADERS)
