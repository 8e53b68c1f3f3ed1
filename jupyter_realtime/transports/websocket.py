"""WebSocket transport: ``GET realtime/ws`` (RFC 6455).

Public names: :class:`RealtimeWebSocketHandler`, :class:`WebSocketTransport`.
Commands come up as text (JSON) or binary frames (``protocol.pack_binary``); replies,
events and publications go down. Publications are written as frames prepared once per
publication (``wsframe``); what a socket is sent in one event-loop turn leaves in one
write (``coalesce``), straight to the connection's stream, whose write buffer is the
session's bounded outbox. Authentication and origin checks are Jupyter's own.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import iostream, web, websocket

from ..errors import (
    FORBIDDEN,
    SLOW_CONSUMER,
    TOO_MANY_CONNECTIONS,
    TRANSPORT_DISABLED,
    Disconnect,
    RealtimeError,
)
from ..hub import SubscribeResult
from ..protocol import Publication
from ..session import OutboxFull, Session
from ._compat import websocket_stream
from .coalesce import CoalescingWriter
from .context import RealtimeHandlerMixin
from .handshake import forget_handshake
from .wsframe import publication_frame, text_frame

__all__ = ["RealtimeWebSocketHandler", "WebSocketTransport"]


# a peer that answers no ping for this many heartbeat intervals is gone
PING_TIMEOUT_INTERVALS = 3
PING_TIMEOUT = Disconnect(4003, "ping_timeout")
PING_FRAME = b"\x89\x00"  # FIN + ping opcode, empty payload


class WebSocketTransport(CoalescingWriter):
    __slots__ = ("handler", "last_pong", "timeout")
    kind = "ws"

    def __init__(
        self, handler: RealtimeWebSocketHandler, stream: iostream.IOStream, timeout: float
    ) -> None:
        super().__init__(stream)
        self.handler = handler
        self.timeout = timeout
        self.last_pong = time.monotonic()

    def heartbeat(self) -> None:
        """Ping (called for every socket by one server-wide timer, not a timer per socket)."""
        if time.monotonic() - self.last_pong > self.timeout:
            self.close(PING_TIMEOUT)
            return
        try:
            self._write(PING_FRAME)
        except OutboxFull:
            self.overflow()

    def overflow(self) -> None:
        session = self.handler.session
        if session is not None:
            session.close(SLOW_CONSUMER)
        else:
            self.close(SLOW_CONSUMER)

    def _write(self, data: bytes) -> None:
        try:
            self.enqueue(data)
        except iostream.StreamBufferFullError:
            raise OutboxFull from None

    def write_publication(self, pub: Publication) -> None:
        self._write(publication_frame(pub))

    def write_frame(self, frame: dict[str, Any]) -> None:
        self._write(text_frame(orjson.dumps(frame)))

    def announce(self, channel: str, result: SubscribeResult) -> bool:
        return False  # the reply follows the replay on the same socket

    async def wait_writable(self) -> None:
        try:
            await self.wait_for_room(self.handler.context.outbox_limit, self.timeout)
        except iostream.StreamBufferFullError:
            raise OutboxFull from None

    def close(self, disconnect: Disconnect) -> None:
        self.stream.max_write_buffer_size = None  # let the close frame through
        self.flush()  # what was sent before the close goes out before it
        self.handler.close(disconnect.code, disconnect.reason)


#: bytes of one WebSocket frame the server reads (to answer ``too_large``) before it closes the
#: socket with 1009 instead; at least 4 x ``max_message_size`` + 64 KiB
MAX_FRAME_READ = 64 << 20


class RealtimeWebSocketHandler(
    RealtimeHandlerMixin, WebSocketMixin, JupyterHandler, websocket.WebSocketHandler
):
    transport_name = "ws"
    session: Session | None = None
    transport: WebSocketTransport | None = None
    # why the socket is closed as soon as it opens: a browser cannot read the status of
    # a refused upgrade, only a close code, so refusals it must act on are sent as one
    refusal: Disconnect | None = None

    @property
    def max_message_size(self) -> int:
        # big enough that an oversized publication gets a too_large reply, not a close: as
        # large as the HTTP transports' uplinks read (docs/protocol.md, "too_large")
        return max(4 * self.hub.max_message_size + (64 << 10), MAX_FRAME_READ)

    def skip_check_origin(self) -> bool:
        # Jupyter skips the origin check for token-authenticated requests; a realtime
        # socket checks it always (allow_origin / allow_origin_pat still apply), so a
        # page on another site cannot hold a channel open even with a leaked token.
        return False

    @property
    def ping_interval(self) -> int:
        return 0  # pings come from the server-wide heartbeat (RealtimeContext.sweep)

    def get_compression_options(self) -> None:
        return None  # prepared frames are shared between connections: no per-socket deflate

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().prepare(*args, **kwargs)
        except web.HTTPError as exc:
            if exc.status_code != 403 or self.current_user is None:
                raise  # not identified (or a bad host): refused before the upgrade
            self.refusal = FORBIDDEN  # Jupyter's authorizer denies read on realtime

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        try:
            self.check_transport()
        except RealtimeError:  # 4501: the client falls back at once (unless refused already)
            self.refusal = self.refusal or TRANSPORT_DISABLED
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        if self.refusal is not None:
            self.close(self.refusal.code, self.refusal.reason)
            return
        stream = websocket_stream(self)
        assert stream is not None
        stream.max_write_buffer_size = self.context.outbox_limit
        stream.set_nodelay(True)
        timeout = PING_TIMEOUT_INTERVALS * self.context.heartbeat_interval
        transport = self.transport = WebSocketTransport(self, stream, timeout)
        try:
            self.session = self.context.new_session(transport, self.identity())
        except RealtimeError:  # too many connections for this user
            self.close(TOO_MANY_CONNECTIONS.code, TOO_MANY_CONNECTIONS.reason)
            return
        self.context.streams.add(transport)
        self._forget_handshake()

    def _forget_handshake(self) -> None:
        """Drop what only the handshake needed: thousands of idle sockets each kept
        several KiB of request and response headers, cookies, arguments and the user
        object (the session holds the identity)."""
        forget_handshake(self, keep_user=False)

    def on_pong(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.last_pong = time.monotonic()

    async def on_message(self, message: str | bytes) -> None:
        session = self.session
        if session is None:
            return
        if isinstance(message, bytes):
            reply = await session.handle_binary(message)
        else:
            reply = await session.handle_text(message)
        if reply is not None:
            await session.wait_writable()  # a history page may be large
            session.send(reply)

    def on_close(self) -> None:
        super().on_close()
        if self.transport is not None:
            self.transport.discard_pending()
            self.context.streams.discard(self.transport)
        if self.session is not None:
            self.session.close()
