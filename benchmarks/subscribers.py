"""Cheap subscriber connections: asyncio protocols that parse just enough HTTP/WebSocket/SSE.

Each protocol sends its request in ``connection_made``, reads the response head, then hands
complete messages to its :class:`Tally` with one receive timestamp per read.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from benchmarks.tally import Tally
from benchmarks.targets import Subscribe
from benchmarks.wsframe import (
    CLOSE,
    PING,
    PONG,
    TEXT,
    data_frames_end,
    decode_frames,
    encode_frame,
)


def request_head(method: str, path: str, port: int, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ws_upgrade(path: str, port: int, headers: dict[str, str]) -> bytes:
    ws = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    return request_head("GET", path, port, {**ws, **headers})


class Connection(asyncio.Protocol):
    """A client connection to the server under test: sends a request, checks the response head."""

    expected_status = b"101"

    def __init__(self, request: bytes, tally: Tally) -> None:
        self.request = request
        self.tally = tally
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.head_done = False
        self.buf = bytearray()
        self.closing = False
        self.dropped = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.dropped = not self.closing  # the server (or the network) ended it, not us
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before ready: {exc}"))

    def data_received(self, data: bytes) -> None:
        if self.head_done:
            self.body_received(data)
            return
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end])
        rest = bytes(self.buf[end + 4 :])
        self.buf.clear()
        status = head.split(b" ", 2)[1] if head.count(b" ") else b""
        if status != self.expected_status:
            first = head.split(b"\r\n", 1)[0].decode(errors="replace")
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(f"unexpected response: {first}"))
            self.close()
            return
        self.head_done = True
        self.on_open(head)
        if rest:
            self.body_received(rest)

    def on_open(self, head: bytes) -> None:
        self.ready.set_result(None)

    def body_received(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class WsSubscriber(Connection):
    """Plain WebSocket: every text or binary message may be a publication."""

    def __init__(self, request: bytes, tally: Tally, first_message: bytes | None) -> None:
        super().__init__(request, tally)
        self.first_message = first_message

    def on_open(self, head: bytes) -> None:
        if self.first_message is not None:
            self.send(self.first_message)
        self.ready.set_result(None)

    def send(self, text: bytes) -> None:
        assert self.transport is not None
        self.transport.write(encode_frame(text, TEXT, masked=True))

    fast_prefix = b""  # every payload of a fast-path chunk must start with this

    def body_received(self, data: bytes) -> None:
        if not self.buf and data_frames_end(data, self.fast_prefix):
            self.tally.feed(data, time.time())  # only whole text frames: scan them at once
            return
        self.buf += data
        now = time.time()
        for opcode, payload in decode_frames(self.buf):
            if opcode == PING:
                assert self.transport is not None
                self.transport.write(encode_frame(payload, PONG, masked=True))
            elif opcode == CLOSE:
                self.close()
            elif opcode != PONG:
                self.on_message(payload, now)

    def on_message(self, payload: bytes, now: float) -> None:
        self.tally.feed(payload, now)


class SocketIOSubscriber(WsSubscriber):
    """Engine.IO v4 / Socket.IO v5 over WebSocket: open, connect, answer pings, count events."""

    fast_prefix = b"42"

    def on_open(self, head: bytes) -> None:
        pass  # ready once the Socket.IO namespace connect is acknowledged

    def on_message(self, payload: bytes, now: float) -> None:
        kind = payload[:2]
        if kind == b"42":
            self.tally.feed(payload, now)
        elif payload[:1] == b"0":
            self.send(b"40")  # Engine.IO open: connect the default namespace
        elif kind == b"40" and not self.ready.done():
            self.ready.set_result(None)
        elif payload == b"2":
            self.send(b"3")
        elif kind == b"44" and not self.ready.done():
            self.ready.set_exception(ConnectionError(payload.decode(errors="replace")))


class SseSubscriber(Connection):
    """Server-Sent Events, chunked or not: counts publications in complete events."""

    expected_status = b"200"

    def __init__(self, request: bytes, tally: Tally) -> None:
        super().__init__(request, tally)
        self.chunked = False
        self.raw = bytearray()

    def on_open(self, head: bytes) -> None:
        self.chunked = b"transfer-encoding: chunked" in head.lower()
        self.ready.set_result(None)

    def body_received(self, data: bytes) -> None:
        if self.chunked:
            self.raw += data
            data = self._dechunk()
        self.buf += data
        end = self.buf.rfind(b"\n\n")
        if end >= 0:
            self.tally.feed(bytes(self.buf[:end]), time.time())
            del self.buf[: end + 2]

    def _dechunk(self) -> bytes:
        raw, out, pos = self.raw, bytearray(), 0
        while True:
            eol = raw.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(raw[pos:eol].split(b";", 1)[0], 16)
            if len(raw) < eol + 2 + size + 2:
                break
            out += raw[eol + 2 : eol + 2 + size]
            pos = eol + 2 + size + 2
            if size == 0:
                self.close()
                break
        del raw[:pos]
        return bytes(out)


def make_subscriber(
    spec: Subscribe, port: int, headers: dict[str, str], tally: Tally
) -> Connection:
    """A protocol instance for ``loop.create_connection``."""
    if spec.kind == "sse":
        sse = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **headers}
        return SseSubscriber(request_head("GET", spec.path, port, sse), tally)
    request = ws_upgrade(spec.path, port, headers)
    if spec.kind == "socketio":
        return SocketIOSubscriber(request, tally, None)
    return WsSubscriber(request, tally, spec.first_message)
