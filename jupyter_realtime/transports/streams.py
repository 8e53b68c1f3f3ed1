"""Opening a stream (SSE or XHR streaming) on a session: the shared request logic.

Public name: :class:`StreamHandler`. A stream request names its channels
(``?channel=A&channel=B``) and may resume them from a cursor; with ``?session=1`` it also
opens an HTTP session whose commands come up through ``POST realtime/session/S``. The
channels are registered with the hub before the first byte is sent; their replays follow
the headers, paced by the connection's outbox.

A stream is never compressed: its frames are written to the connection as they come
(``coalesce``, ``fastwrite``), outside tornado's output transforms, so the gzip transform
that ``tornado_settings = {"compress_response": True}`` adds would garble it. It is taken off
the response before the first byte (``_compat.drop_output_transforms``); the stream's
headers then say nothing of an encoding, and every client reads plain frames.
"""

from __future__ import annotations

from jupyter_server.base.handlers import APIHandler
from tornado import iostream, web

from ..errors import Disconnect, ErrorCode, RealtimeError
from ..protocol import Position, decode_cursor, validate_channel
from ._compat import drop_output_transforms
from .context import RealtimeHandlerMixin
from .httpstream import HTTPStreamTransport

__all__ = ["StreamHandler"]

MAX_STREAM_CHANNELS = 100


class StreamHandler(RealtimeHandlerMixin, APIHandler):
    """Base of the SSE and XHR streaming handlers; subclasses set the transport class."""

    transport_class: type[HTTPStreamTransport]
    content_type = "text/plain"
    transport: HTTPStreamTransport | None = None

    def resume_cursor(self) -> str | None:
        return self.get_argument("cursor", None)

    def parse(self) -> tuple[list[str], dict[str, Position], bool]:
        self.check_transport()
        channels = [validate_channel(c) for c in self.get_arguments("channel")]
        if len(set(channels)) != len(channels):
            raise RealtimeError(ErrorCode.BAD_REQUEST, "a channel is named twice")
        if len(channels) > MAX_STREAM_CHANNELS:
            raise RealtimeError(
                ErrorCode.BAD_REQUEST, f"at most {MAX_STREAM_CHANNELS} channels per stream"
            )
        session_mode = self.get_argument("session", "") not in ("", "0", "false")
        if not channels and not session_mode:
            raise RealtimeError(ErrorCode.BAD_REQUEST, "name at least one channel (?channel=)")
        cursor = self.resume_cursor()
        positions = decode_cursor(cursor) if cursor else {}
        return channels, positions, session_mode

    def preamble(self) -> bytes:
        return b""

    @web.authenticated
    async def get(self) -> None:
        try:
            channels, positions, session_mode = self.parse()
            transport = self.transport_class(self, self.context)
            session = self.context.new_session(transport, self.identity())
        except RealtimeError as exc:
            self.write_realtime_error(exc)
            return
        self.transport = transport
        drop_output_transforms(self)
        self.set_header("Content-Type", self.content_type)
        self.set_header("Cache-Control", "no-cache, no-transform")
        self.set_header("X-Accel-Buffering", "no")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.write(self.preamble())
        if session_mode:
            self.context.add_session(session)
            self.context.touch(session, pinned=True)
            transport.write_frame({"event": "session", "session": session.id})
        try:
            await session.subscribe_all(channels, positions, registered=transport.start)
            await transport.closed
        except RealtimeError as exc:
            if not transport.started:
                self.clear()
                self.write_realtime_error(exc)
            else:  # the headers are out (a replay failed): say so on the stream
                transport.close(Disconnect(1011, exc.code.value))
        except iostream.StreamClosedError:
            pass  # the client left before the headers went out
        finally:
            session.close()
            self.context.remove_session(session)
            transport.on_connection_close()

    def on_connection_close(self) -> None:
        if self.transport is not None:
            self.transport.on_connection_close()
