"""Publish triggers: pipelined HTTP ``POST`` on one keep-alive connection, or a control WebSocket.

Both keep requests in order on a single connection (so the server sees publications in
``seq`` order) and resolve one future per publish with the HTTP status (200 for WebSocket
acknowledgements).
"""

from __future__ import annotations

import asyncio
from collections import deque

from benchmarks.subscribers import Connection, request_head, ws_upgrade
from benchmarks.tally import Recorder, Tally
from benchmarks.targets import Publish
from benchmarks.wsframe import CLOSE, TEXT, decode_frames, encode_frame


class PublishConnection(Connection):
    """A FIFO of futures, one per request in flight."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request, Tally(Recorder()))
        self.waiting: deque[asyncio.Future[int]] = deque()

    def _resolve(self, status: int) -> None:
        if self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_result(status)

    def _queue(self) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting.append(fut)
        return fut

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError("publisher connection closed"))

    def send(self, body: bytes) -> asyncio.Future[int]:
        raise NotImplementedError


class HttpPublisher(PublishConnection):
    """``POST path`` with a JSON body; responses parsed by Content-Length (or chunked)."""

    def __init__(self, path: str, port: int, headers: dict[str, str]) -> None:
        super().__init__(b"")
        self.path, self.port, self.headers = path, port, headers
        self.head_done = True  # no handshake: every response is handled by body_received

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.ready.set_result(None)

    def send(self, body: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        hdrs = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        self.transport.write(
            request_head("POST", self.path, self.port, {**hdrs, **self.headers}) + body
        )
        return self._queue()

    def body_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            status = int(head.split(b" ", 2)[1])
            start = end + 4
            if b"transfer-encoding: chunked" in head:
                stop = buf.find(b"\r\n0\r\n\r\n", start - 2)
                if stop < 0:
                    return
                size = stop + 7 - start
            else:
                idx = head.find(b"content-length:")
                size = int(head[idx + 15 :].split(b"\r\n", 1)[0]) if idx >= 0 else 0
                if len(buf) < start + size:
                    return
            del buf[: start + size]
            self._resolve(status)


class WsPublisher(PublishConnection):
    """Text messages on a control WebSocket; each acknowledgement frame resolves one publish."""

    def send(self, body: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.transport.write(encode_frame(body, TEXT, masked=True))
        return self._queue()

    def body_received(self, data: bytes) -> None:
        self.buf += data
        for opcode, _ in decode_frames(self.buf):
            if opcode == CLOSE:
                self.close()
            else:
                self._resolve(200)


def make_publisher(spec: Publish, port: int, headers: dict[str, str]) -> PublishConnection:
    """A protocol instance for ``loop.create_connection``."""
    if spec.kind == "ws":
        return WsPublisher(ws_upgrade(spec.path, port, headers))
    return HttpPublisher(spec.path, port, headers)
