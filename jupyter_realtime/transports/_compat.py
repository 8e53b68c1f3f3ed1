"""Every use of a private internal of tornado or jupyter_server, each behind one function.

Public names: :func:`check`, :func:`apply_check`, and the accessors below. Verified on
tornado 6.4 and 6.6 and jupyter_server 2.16 and 2.21 (Python 3.10 and 3.11).

The transports write prepared bytes straight to a connection's ``IOStream`` (fan-out at
a fraction of the cost of ``write_message``, see ``docs/performance.md``) and let go of
what a long-lived handler keeps only for its handshake (``handshake``). Neither has a
public API in tornado, so the attributes they reach are named here and nowhere else, and
:func:`check` verifies that each is present with the shape relied on. At start-up the
server extension logs every problem as one line naming the internal and the installed
version, and turns off a transport that cannot work without it (clients fall back to
the others); an internal with a fallback only costs performance or memory.
"""

from __future__ import annotations

import logging
import types

from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import JupyterHandler
from tornado import http1connection, httputil, iostream, web, websocket

from .._compatcheck import Problem, Requirement, missing_store, run

__all__ = [
    "apply_check",
    "check",
    "chunk",
    "connection_closed",
    "drop_output_transforms",
    "forget_request_state",
    "forget_response_headers",
    "forget_user",
    "queued",
    "request_stream",
    "response_finished",
    "send_now",
    "websocket_stream",
]

log = logging.getLogger("jupyter_realtime.transports")

HTTP1 = http1connection.HTTP1Connection
FASTWRITE = "jupyter_realtime.transports.fastwrite"
HANDSHAKE = "jupyter_realtime.transports.handshake"
MEMORY = "the handshake's state stays in memory for the connection's life"


# -- IOStream: fastwrite, coalesce --


def send_now(stream: iostream.IOStream, data: bytes) -> int:
    """``stream.socket.send(data)``: bytes the kernel took at once (0 when it took none or
    the socket is not reachable; ``IOStream.write`` then sends them and meets any error)."""
    sock = getattr(stream, "socket", None)
    if sock is None:
        return 0
    try:
        return int(sock.send(data))
    except OSError:  # BlockingIOError, InterruptedError, a reset: left to IOStream.write
        return 0


def queued(stream: iostream.IOStream) -> int:
    """Bytes waiting in ``stream``'s write buffer (``IOStream._write_buffer``; tornado keeps
    no public counter). 0 when the buffer is not found."""
    buffer = getattr(stream, "_write_buffer", None)
    return len(buffer) if buffer is not None else 0


def _stream_buffer() -> str | None:
    if (what := missing_store(iostream.BaseIOStream, "__init__", "_write_buffer")) is not None:
        return what
    buffer = getattr(iostream, "_StreamBuffer", None)
    if buffer is None or not callable(getattr(buffer, "__len__", None)):
        return "has no length (_StreamBuffer.__len__ is missing)"
    return None


# -- the streams of a WebSocket and of an HTTP response --


def websocket_stream(handler: websocket.WebSocketHandler) -> iostream.IOStream | None:
    """The stream of an open WebSocket (``ws_connection.stream``), where frames are written."""
    return getattr(handler.ws_connection, "stream", None)


def request_stream(request: httputil.HTTPServerRequest) -> iostream.IOStream:
    """The stream of the connection a request came on (``HTTP1Connection.stream``)."""
    stream: iostream.IOStream = request.connection.stream  # type: ignore[union-attr]
    return stream


def connection_closed(request: httputil.HTTPServerRequest) -> bool:
    """Whether the client has gone (False when the connection's stream is not found)."""
    stream = getattr(request.connection, "stream", None)
    return stream is not None and bool(stream.closed())


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk, as tornado frames the body of an HTTP/1.1 response of
    unknown length (``HTTP1Connection._format_chunk``); frames written straight to the
    stream must carry the same framing."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _chunk_framing() -> str | None:
    format_chunk = getattr(HTTP1, "_format_chunk", None)
    if not callable(format_chunk):
        return "is missing"
    if missing_store(HTTP1, "write_headers", "_chunking_output") is not None:
        return "is no longer chosen in write_headers (_chunking_output)"
    conn = types.SimpleNamespace(_expected_content_remaining=None, _chunking_output=True)
    framed = format_chunk(conn, b"abc")
    if framed != chunk(b"abc"):
        return f"frames b'abc' as {framed!r}, not {chunk(b'abc')!r}"
    return None


def _ws_frames() -> str | None:
    protocol = getattr(websocket, "WebSocketProtocol13", None)
    if protocol is None:
        return "is missing"
    write_frame = getattr(protocol, "_write_frame", None)
    if not callable(write_frame):
        return "is missing (WebSocketProtocol13._write_frame)"
    if not ("stream" in write_frame.__code__.co_names and "write" in write_frame.__code__.co_names):
        return "no longer writes its frames with stream.write (ours would be out of order)"
    return None


# -- gzip --


def drop_output_transforms(handler: web.RequestHandler) -> bool:
    """Take tornado's output transforms (``RequestHandler._transforms``: the
    ``GZipContentEncoding`` that ``compress_response`` adds) off a streaming response, whose
    frames are written straight to the connection and must leave as they are. Call before
    the first flush. False when the list is not found (the response may then be gzipped
    and its frames with it)."""
    transforms = getattr(handler, "_transforms", None)
    if not isinstance(transforms, list):
        return False
    transforms.clear()
    return True


def _transforms() -> str | None:
    if (what := missing_store(web.RequestHandler, "_execute", "_transforms")) is not None:
        return what
    transform = getattr(web, "GZipContentEncoding", None)
    if transform is None or "transform_first_chunk" not in vars(transform):
        return "no longer holds GZipContentEncoding (transform_first_chunk is gone)"
    return None


# -- what a handler keeps after its handshake --


def response_finished(handler: web.RequestHandler) -> bool:
    """Whether the response has been finished (``RequestHandler._finished``)."""
    return bool(getattr(handler, "_finished", False))


def forget_response_headers(handler: web.RequestHandler, empty: httputil.HTTPHeaders) -> None:
    """Replace the response headers (written already) by ``empty`` and drop the cookies
    set on the response (``RequestHandler._headers``, ``_new_cookie``)."""
    handler._headers = empty
    handler.__dict__.pop("_new_cookie", None)


def forget_request_state(request: httputil.HTTPServerRequest, empty: httputil.HTTPHeaders) -> None:
    """Drop the request's parsed cookies (``HTTPServerRequest._cookies``, the cache behind
    ``request.cookies``) and the connection's own reference to the request headers
    (``HTTP1Connection._request_headers``, read only while the response headers are written)."""
    request.__dict__.pop("_cookies", None)
    connection = request.connection
    if getattr(connection, "_request_headers", None) is not None:
        connection._request_headers = empty  # type: ignore[union-attr]


def forget_user(handler: web.RequestHandler, *, keep_name: bool) -> None:
    """Drop the handler's user (tornado's ``_current_user``, the cache behind the
    ``current_user`` property, and jupyter_server's ``_jupyter_current_user``) without
    calling anything that would look it up again; ``keep_name``: keep a user with only
    the name (set with the public ``current_user`` setter)."""
    state = handler.__dict__
    user = state.pop("_current_user", None)
    state.pop("_jupyter_current_user", None)
    if keep_name and isinstance(user, User):
        handler.current_user = state["_jupyter_current_user"] = User(user.username)


# -- the check --

REQUIREMENTS = [
    Requirement(
        "tornado", "IOStream.socket", FASTWRITE,
        lambda: missing_store(iostream.IOStream, "__init__", "socket"),
        fallback="every frame goes through IOStream.write, a little slower",
    ),
    Requirement(
        "tornado", "IOStream._write_buffer", FASTWRITE + ", coalesce", _stream_buffer,
        fallback="replays are not paced; outboxes are bounded by max_write_buffer_size alone",
    ),
    Requirement(
        "tornado", "WebSocketProtocol13.stream", "jupyter_realtime.transports.websocket",
        lambda: missing_store(websocket.WebSocketProtocol13, "_accept_connection", "stream"),
        disables=("ws",),
    ),
    Requirement(
        "tornado", "WebSocketProtocol13._write_frame", "jupyter_realtime.transports.wsframe",
        _ws_frames, disables=("ws",),
    ),
    Requirement(
        "tornado", "HTTP1Connection.stream", "jupyter_realtime.transports.httpstream",
        lambda: missing_store(HTTP1, "__init__", "stream"), disables=("sse", "stream"),
    ),
    Requirement(
        "tornado", "HTTP1Connection._format_chunk", "jupyter_realtime.transports.httpstream",
        _chunk_framing, disables=("sse", "stream"),
    ),
    Requirement(
        "tornado", "RequestHandler._transforms", "jupyter_realtime.transports.streams",
        _transforms,
        fallback="with compress_response on, SSE and XHR streams are gzipped and break",
    ),
    Requirement(
        "tornado", "HTTP1Connection._request_headers", HANDSHAKE,
        lambda: missing_store(HTTP1, "__init__", "_request_headers"), fallback=MEMORY,
    ),
    Requirement(
        "tornado", "RequestHandler._headers", HANDSHAKE,
        lambda: missing_store(web.RequestHandler, "clear", "_headers"), fallback=MEMORY,
    ),
    Requirement(
        "tornado", "RequestHandler._new_cookie", HANDSHAKE,
        lambda: missing_store(web.RequestHandler, "set_cookie", "_new_cookie"), fallback=MEMORY,
    ),
    Requirement(
        "tornado", "RequestHandler._current_user", HANDSHAKE,
        lambda: missing_store(web.RequestHandler, "current_user", "_current_user"),
        fallback=MEMORY,
    ),
    Requirement(
        "tornado", "HTTPServerRequest._cookies", HANDSHAKE,
        lambda: missing_store(httputil.HTTPServerRequest, "cookies", "_cookies"), fallback=MEMORY,
    ),
    Requirement(
        "tornado", "RequestHandler._finished", "jupyter_realtime.transports.context",
        lambda: missing_store(web.RequestHandler, "finish", "_finished"),
    ),
    Requirement(
        "jupyter_server", "JupyterHandler._jupyter_current_user", HANDSHAKE,
        lambda: missing_store(JupyterHandler, "prepare", "_jupyter_current_user"),
        fallback=MEMORY,
    ),
]  # fmt: skip


def check() -> list[Problem]:
    """A :class:`Problem` for each internal above that is missing or changed shape."""
    return run(REQUIREMENTS)


def apply_check(transports: set[str]) -> set[str]:
    """Log each problem at start-up; the transports that still work, of ``transports``."""
    working = set(transports)
    for problem in check():
        lost = sorted(working.intersection(problem.disables))
        working.difference_update(problem.disables)
        if lost:
            log.error("%s: transport %s turned off", problem, ", ".join(lost))
        else:
            log.warning("%s", problem)
    return working
