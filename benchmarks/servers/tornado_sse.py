"""Reference (c): Tornado Server-Sent Events with TCP_NODELAY set on each stream.

Tornado sets TCP_NODELAY for WebSockets but not for plain HTTP responses; without it small
SSE events wait for delayed ACKs (hundreds of milliseconds of latency).
"""

from __future__ import annotations

import asyncio

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from benchmarks.servers.common import Publisher, parse_port
from benchmarks.servers.tornado_base import serve

clients: set[RequestHandler] = set()
publisher = Publisher()


class EventStream(RequestHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.request.connection.stream.set_nodelay(True)  # type: ignore[union-attr]
        self._closed = asyncio.Event()
        self.write("retry: 1000\n\n")
        await self.flush()
        clients.add(self)
        await self._closed.wait()

    def on_connection_close(self) -> None:
        clients.discard(self)
        self._closed.set()


def broadcast(body: bytes) -> None:
    frame = publisher.encode(body)
    event = b"id: %d\ndata: %s\n\n" % (publisher.offset, frame)
    for client in list(clients):
        try:
            client.write(event)
            client.flush()
        except StreamClosedError:
            clients.discard(client)


if __name__ == "__main__":
    serve(parse_port(__doc__ or ""), (r"/sse", EventStream, {}), broadcast)
