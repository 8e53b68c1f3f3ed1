"""Reference (b): Tornado, the frame encoded once and the same bytes written to each stream.

The RFC 6455 frame (unmasked server frame, no compression) is built once per publication and
written straight to each connection's ``IOStream``, skipping ``write_message``'s per-client
framing and futures.
"""

from __future__ import annotations

from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketHandler

from benchmarks.servers.common import Publisher, parse_port
from benchmarks.servers.tornado_base import serve
from benchmarks.wsframe import encode_frame

streams: dict[WebSocketHandler, IOStream] = {}
publisher = Publisher()


class Subscriber(WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def open(self) -> None:
        stream = self.ws_connection.stream if self.ws_connection else None
        assert stream is not None
        streams[self] = stream

    def on_close(self) -> None:
        streams.pop(self, None)


def broadcast(body: bytes) -> None:
    frame = encode_frame(publisher.encode(body))
    for handler, stream in list(streams.items()):
        if stream.closed():
            streams.pop(handler, None)
            continue
        try:
            stream.write(frame)
        except StreamClosedError:
            streams.pop(handler, None)


if __name__ == "__main__":
    serve(parse_port(__doc__ or ""), (r"/ws", Subscriber, {}), broadcast)
