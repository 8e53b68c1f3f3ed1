"""Tornado plumbing shared by the three Tornado reference servers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tornado.web import Application, RequestHandler

from benchmarks.servers.common import ACK, raise_nofile

Broadcast = Callable[[bytes], None]


class PublishHandler(RequestHandler):
    """``POST /publish``: broadcast the body to every subscriber, then answer."""

    def initialize(self, broadcast: Broadcast) -> None:
        self._broadcast = broadcast

    def check_xsrf_cookie(self) -> None:  # a benchmark endpoint, no browser involved
        return None

    def post(self) -> None:
        self._broadcast(self.request.body)
        self.set_header("Content-Type", "application/json")
        self.finish(ACK)


def serve(port: int, subscribe: tuple[str, type, dict[str, Any]], broadcast: Broadcast) -> None:
    """Run until killed: the subscriber route plus ``/publish``, on 127.0.0.1 only."""
    raise_nofile()

    async def main() -> None:
        app = Application(
            [subscribe, (r"/publish", PublishHandler, {"broadcast": broadcast})],
            websocket_ping_interval=0,
        )
        app.listen(port, address="127.0.0.1", backlog=1024)
        await asyncio.Event().wait()

    asyncio.run(main())
