"""Long polling and JSONP polling: ``GET realtime/poll`` and ``GET realtime/jsonp``.

Public names: :class:`QueueTransport`, :class:`PollHandler`, :class:`JSONPHandler`.
A stateless poll subscribes from its cursor, answers as soon as anything is newer (or
empty at the timeout) and unsubscribes: the next poll may land on any server. With
``?session=`` the poll reads the queue of an HTTP session instead (see ``uplink``).
JSONP wraps the same answer in a strictly validated callback; it is off by default
because any page that knows a token can read channels through it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import Disconnect, ErrorCode, RealtimeError
from ..hub import SubscribeResult
from ..protocol import Position, Publication, decode_cursor, encode_cursor, validate_channel
from ..session import OutboxFull
from ._compat import connection_closed
from .context import RealtimeHandlerMixin

__all__ = ["JSONPHandler", "PollHandler", "QueueTransport"]

MAX_POLL_TIMEOUT = 60.0
MAX_MESSAGES = 1000
CALLBACK_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*){0,3}")


class QueueTransport:
    """A bounded queue of encoded frames that a poll drains."""

    kind = "poll"

    def __init__(self, limit: int, *, truncate: bool = False) -> None:
        self.limit = limit
        # truncate (a stateless poll): past the limit, drop this and every later frame (the
        # poll's cursor then stops before them and the next poll fetches them) instead of
        # failing; its position after a replay moves the cursor without a frame
        self.truncate = truncate
        self.overflowed = False
        self.size = 0
        self.queue: list[tuple[bytes, str | None, Position | None]] = []
        self.ready = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.disconnect: Disconnect | None = None

    def _put(self, data: bytes, channel: str | None, position: Position | None) -> None:
        if self.overflowed or self.disconnect is not None:
            return
        if self.size + len(data) > self.limit:
            if not self.truncate:
                raise OutboxFull
            self.overflowed = True
            return
        self.size += len(data)
        self.queue.append((data, channel, position))
        if data:  # a bare position (stateless poll) is no news to answer with
            self.ready.set()
        if self.size > self.limit // 4:
            self.writable.clear()

    def write_publication(self, pub: Publication) -> None:
        if not self.overflowed:
            self._put(pub.json(), pub.channel, pub.position)

    def write_frame(self, frame: dict[str, Any]) -> None:
        self._put(orjson.dumps(frame), None, None)

    def announce(self, channel: str, result: SubscribeResult) -> bool:
        *before, subscribed = result.events(channel)
        for frame in before:
            self.write_frame(frame)
        self._put(b"" if self.truncate else orjson.dumps(subscribed), channel, result.position)
        return True

    async def wait_writable(self) -> None:
        # a stateless poll truncates instead (its cursor stops at the cut)
        if not self.truncate:
            await self.writable.wait()

    def close(self, disconnect: Disconnect) -> None:
        # what is queued stays: the client still gets it, then the disconnect, and
        # resumes after the last publication it got
        if self.disconnect is None:
            self.queue.append((orjson.dumps(disconnect.to_event()), None, None))
        self.disconnect = disconnect
        self.ready.set()
        self.writable.set()

    def drain(self, positions: dict[str, Position], limit: int = MAX_MESSAGES) -> list[bytes]:
        """Take up to ``limit`` frames, moving ``positions`` past each publication."""
        taken, self.queue = self.queue[:limit], self.queue[limit:]
        for data, channel, position in taken:
            self.size -= len(data)
            if channel is not None and position is not None:
                positions[channel] = position
        if not any(data for data, _, _ in self.queue):
            self.ready.clear()
        if self.size <= self.limit // 4:
            self.writable.set()
        return [data for data, _, _ in taken if data]

    async def wait(self, timeout: float) -> None:
        if not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except asyncio.TimeoutError:
                return
        await asyncio.sleep(0)  # let publications of the same moment join the batch


def poll_body(messages: list[bytes], cursor: str | None, **extra: Any) -> bytes:
    head = orjson.dumps({**extra, "cursor": cursor})
    return b'{"messages":[' + b",".join(messages) + b"]," + head[1:]


class PollHandler(RealtimeHandlerMixin, APIHandler):
    transport_name = "poll"
    transport: QueueTransport | None = None

    def timeout(self) -> float:
        raw = self.get_argument("timeout", None)
        if raw is None:
            return self.context.poll_timeout
        try:
            value = float(raw)
        except ValueError:
            raise RealtimeError(ErrorCode.BAD_REQUEST, "timeout must be a number") from None
        if not 0 <= value <= MAX_POLL_TIMEOUT:
            raise RealtimeError(ErrorCode.BAD_REQUEST, f"timeout must be 0 to {MAX_POLL_TIMEOUT}")
        return value

    def respond(self, body: bytes) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(body)

    @web.authenticated
    async def get(self) -> None:
        try:
            self.check_transport()
            timeout = self.timeout()
            sid = self.get_argument("session", "")
            body: bytes | None
            if sid == "1":
                body = self.open_session()
            elif sid:
                body = await self.poll_session(sid, timeout)
            else:
                body = await self.poll(timeout)
        except RealtimeError as exc:
            self.write_realtime_error(exc)
            return
        if body is not None:
            self.respond(body)

    def open_session(self) -> bytes:
        transport = QueueTransport(self.context.outbox_limit)
        session = self.context.new_session(transport, self.identity())
        self.context.add_session(session)
        return poll_body([], None, session=session.id)

    async def poll_session(self, sid: str, timeout: float) -> bytes | None:
        session = self.context.sessions.get(sid)
        if session is None or not isinstance(session.transport, QueueTransport):
            raise RealtimeError(ErrorCode.NOT_FOUND, f"no polling session {sid!r}")
        if session.identity.username != self.identity().username:
            raise RealtimeError(ErrorCode.FORBIDDEN, "this session belongs to another user")
        transport = self.transport = session.transport
        self.context.touch(session, pinned=True)
        try:
            await transport.wait(timeout)
        finally:
            self.context.touch(session)
        if connection_closed(self.request):
            return None  # keep the queue for the next poll
        messages = transport.drain({})
        if transport.disconnect is not None and not transport.queue:
            self.context.remove_session(session)  # its disconnect event is in this answer
        return poll_body(messages, None, session=sid)

    async def poll(self, timeout: float) -> bytes | None:
        channels = [validate_channel(c) for c in self.get_arguments("channel")]
        if not channels:
            raise RealtimeError(ErrorCode.BAD_REQUEST, "name at least one channel (?channel=)")
        cursor = self.get_argument("cursor", None)
        if cursor is None:
            identity = self.identity()
            for channel in channels:
                self.context.policy.authorize(identity, "subscribe", channel)
            now = {ch: await self.hub.position(ch) for ch in channels}
            return poll_body([], encode_cursor(now))
        since = decode_cursor(cursor)
        transport = self.transport = QueueTransport(self.context.outbox_limit, truncate=True)
        session = self.context.new_session(transport, self.identity())
        positions: dict[str, Position] = {}
        try:
            for channel in channels:
                result = await session.subscribe(channel, since.get(channel))
                positions[channel] = since.get(channel) or result.position
            await transport.wait(timeout)
        finally:
            session.close()
        return poll_body(transport.drain(positions), encode_cursor(positions))

    def on_connection_close(self) -> None:
        if self.transport is not None:
            self.transport.ready.set()


class JSONPHandler(PollHandler):
    transport_name = "jsonp"

    def check_transport(self) -> None:
        if not self.context.jsonp_enabled:
            raise RealtimeError(ErrorCode.NOT_FOUND, "JSONP polling is disabled")
        callback = self.get_argument("callback", "")
        if len(callback) > 128 or CALLBACK_RE.fullmatch(callback) is None:
            raise RealtimeError(ErrorCode.BAD_REQUEST, "callback must be a JavaScript identifier")

    def respond(self, body: bytes) -> None:
        callback = self.get_argument("callback").encode("ascii")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            b"/**/" + callback + b"(" + body + b");",
            set_content_type="application/javascript; charset=utf-8",
        )
