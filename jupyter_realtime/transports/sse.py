"""Server-Sent Events: ``GET realtime/sse?channel=A&channel=B`` (HTML Living Standard, 9.2).

Public names: :class:`SSEHandler`, :class:`SSETransport`. Every publication is a
``message`` event whose ``id`` is the stream's cursor, so ``EventSource``'s automatic
reconnection (``Last-Event-ID``) resumes every channel of the stream. Data is UTF-8 only:
binary publications carry ``data_b64``. Comment heartbeats keep proxies from closing an
idle stream and reveal dead peers.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..protocol import Publication
from .httpstream import HTTPStreamTransport
from .streams import StreamHandler

__all__ = ["SSEHandler", "SSETransport"]


class SSETransport(HTTPStreamTransport):
    __slots__ = ()
    kind = "sse"

    def format_publication(self, pub: Publication, cursor: bytes) -> bytes:
        return b"id: " + cursor + b"\ndata: " + pub.json() + b"\n\n"

    def format_frame(self, frame: dict[str, Any], cursor: bytes | None) -> bytes:
        head = b"id: " + cursor + b"\n" if cursor is not None else b""
        return head + b"data: " + orjson.dumps(frame) + b"\n\n"

    def format_heartbeat(self) -> bytes:
        return b": ping\n\n"


class SSEHandler(StreamHandler):
    transport_name = "sse"
    transport_class = SSETransport
    content_type = "text/event-stream; charset=utf-8"

    def resume_cursor(self) -> str | None:
        # EventSource sends the header on reconnect; the query is for a first connection
        return self.request.headers.get("Last-Event-ID") or self.get_argument(
            "last_event_id", None
        )

    def preamble(self) -> bytes:
        return b"retry: %d\n\n" % self.context.sse_retry_ms
