"""The part SSE and XHR streaming share: a long HTTP response written frame by frame.

Public name: :class:`HTTPStreamTransport`. Subclasses say how a publication, an event and
a heartbeat look on the wire (``format_*``). Until :meth:`start`, frames are buffered in
the response, so the subscriptions exist before the first byte leaves; the headers go
out once every channel is registered, before the replays, which are paced by
:meth:`wait_writable`. Afterwards each frame is one chunk, and the chunks of one
event-loop turn leave in one write to the connection (``coalesce``), whose stream write
buffer is the bounded outbox. TCP_NODELAY is set: without it, Nagle's
algorithm delays small events by hundreds of milliseconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tornado import iostream, web

from ..errors import SLOW_CONSUMER, Disconnect
from ..hub import SubscribeResult
from ..protocol import Position, Publication, encode_cursor
from ..session import OutboxFull
from ._compat import chunk, request_stream
from .coalesce import CoalescingWriter
from .context import RealtimeContext
from .handshake import forget_handshake

__all__ = ["HTTPStreamTransport"]

# a reader that takes nothing for this many heartbeat intervals during a replay is stalled
STALL_INTERVALS = 3


class HTTPStreamTransport(CoalescingWriter):
    """Slotted, like the session: a server holds one per open stream."""

    __slots__ = ("handler", "context", "positions", "started", "closed", "chunked")
    kind = "stream"
    # keys of the bytes shared by single-channel streams in ``Publication.frames``
    frame_keys = ("stream1", "stream1c")

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.frame_keys = (cls.kind + "1", cls.kind + "1c")

    def __init__(self, handler: web.RequestHandler, context: RealtimeContext) -> None:
        request = handler.request
        super().__init__(request_stream(request))
        self.handler = handler
        self.context = context
        self.positions: dict[str, Position] = {}
        self.started = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Tornado frames an HTTP/1.1 response of unknown length as chunks; frames written
        # straight to the stream must carry the same framing (see coalesce, fastwrite)
        self.chunked = request.version == "HTTP/1.1"

    # -- wire format, per subclass --

    def format_publication(self, pub: Publication, cursor: bytes) -> bytes:
        raise NotImplementedError

    def format_frame(self, frame: dict[str, Any], cursor: bytes | None) -> bytes:
        raise NotImplementedError

    def format_heartbeat(self) -> bytes:
        raise NotImplementedError

    # -- cursor --

    def cursor(self) -> bytes:
        return encode_cursor(self.positions).encode("ascii")

    def _chunk(self, data: bytes) -> bytes:
        return chunk(data) if self.chunked and self.started else data

    def _publication_bytes(self, pub: Publication) -> bytes:
        positions = self.positions
        positions[pub.channel] = pub.position
        if len(positions) == 1 and self.started:
            # one channel: every subscriber's cursor is the same, so the bytes are too
            key = self.frame_keys[self.chunked]
            data = pub.frames.get(key)
            if data is None:
                data = pub.frames[key] = self._chunk(self.format_publication(pub, self.cursor()))
            return data
        return self._chunk(self.format_publication(pub, self.cursor()))

    # -- Transport --

    def write_publication(self, pub: Publication) -> None:
        self._write(self._publication_bytes(pub))

    def write_frame(self, frame: dict[str, Any]) -> None:
        self._write(self._chunk(self.format_frame(frame, None)))

    def write_positioned(self, frame: dict[str, Any], channel: str, position: Position) -> None:
        """An event that also moves the cursor (``subscribed``)."""
        self.positions[channel] = position
        self._write(self._chunk(self.format_frame(frame, self.cursor())))

    def announce(self, channel: str, result: SubscribeResult) -> bool:
        *before, subscribed = result.events(channel)
        for frame in before:
            self.write_frame(frame)
        self.write_positioned(subscribed, channel, result.position)
        return True

    async def wait_writable(self) -> None:
        if not self.started:
            return
        context = self.context
        try:
            await self.wait_for_room(
                context.outbox_limit, STALL_INTERVALS * context.heartbeat_interval
            )
        except iostream.StreamBufferFullError:
            raise OutboxFull from None

    def heartbeat(self) -> None:
        if self.started:
            try:
                self._write(self._chunk(self.format_heartbeat()))
            except OutboxFull:
                self.close(SLOW_CONSUMER)

    def overflow(self) -> None:
        self.close(SLOW_CONSUMER)

    def _write(self, data: bytes) -> None:
        if self._pending is None:  # the first frame of this turn (see coalesce)
            if self.closed.done():
                return
            if not self.started:
                self.handler.write(data)
                return
            if self.stream.closed():
                self._finish()
                return
        try:
            self.enqueue(data)
        except iostream.StreamBufferFullError:
            raise OutboxFull from None

    async def start(self) -> None:
        """Send the headers and what was buffered; from now on frames go out at once,
        bounded by the outbox limit. Called once the channels are registered, before
        their replays, so what was buffered is small."""
        self.stream.set_nodelay(True)
        self.context.streams.add(self)
        await self.handler.flush()
        forget_handshake(self.handler)  # the headers are out: hours of idling ahead
        self.stream.max_write_buffer_size = self.context.outbox_limit
        self.started = True

    def close(self, disconnect: Disconnect) -> None:
        if self.closed.done():
            return
        if disconnect is SLOW_CONSUMER:
            self.discard_pending()
            self.stream.close()  # it is not reading: drop what is queued
        else:
            self.stream.max_write_buffer_size = None
            try:
                self._write(self._chunk(self.format_frame(disconnect.to_event(), None)))
                self.flush()  # before the response ends
            except (OutboxFull, iostream.StreamBufferFullError):
                pass
        self._finish()

    def _finish(self) -> None:
        if self.stream.closed():
            self.discard_pending()
        else:
            try:
                self.flush()  # the response's last chunk must not overtake them
            except iostream.StreamBufferFullError:
                self.discard_pending()
        self.context.streams.discard(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def on_connection_close(self) -> None:
        self._finish()
