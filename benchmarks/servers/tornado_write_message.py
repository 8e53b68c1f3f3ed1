"""Reference (a): bare Tornado, ``write_message`` to each client (the usual broadcast loop)."""

from __future__ import annotations

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from benchmarks.servers.common import Publisher, parse_port
from benchmarks.servers.tornado_base import serve

clients: set[WebSocketHandler] = set()
publisher = Publisher()


class Subscriber(WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def open(self) -> None:
        clients.add(self)

    def on_close(self) -> None:
        clients.discard(self)


def broadcast(body: bytes) -> None:
    text = publisher.encode(body).decode()
    for client in list(clients):
        try:
            client.write_message(text)
        except WebSocketClosedError:
            clients.discard(client)


if __name__ == "__main__":
    serve(parse_port(__doc__ or ""), (r"/ws", Subscriber, {}), broadcast)
