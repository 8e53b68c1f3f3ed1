"""XHR streaming: ``GET realtime/stream?channel=A`` as newline-delimited JSON.

Public names: :class:`XHRStreamHandler`, :class:`NDJSONTransport`. For clients that can
read a growing response (``fetch`` streams, ``XMLHttpRequest`` progress events) where
neither WebSocket nor SSE gets through. Each publication line carries the stream's
``cursor``; ``?cursor=`` resumes. A first line of padding makes old proxies and browsers
start delivering at once; heartbeats are empty lines.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..protocol import Publication
from .httpstream import HTTPStreamTransport
from .streams import StreamHandler

__all__ = ["NDJSONTransport", "XHRStreamHandler"]

PADDING = b" " * 2048 + b"\n"


class NDJSONTransport(HTTPStreamTransport):
    __slots__ = ()
    kind = "stream"

    def format_publication(self, pub: Publication, cursor: bytes) -> bytes:
        return pub.json()[:-1] + b',"cursor":"' + cursor + b'"}\n'

    def format_frame(self, frame: dict[str, Any], cursor: bytes | None) -> bytes:
        if cursor is not None:
            frame = {**frame, "cursor": cursor.decode("ascii")}
        return orjson.dumps(frame) + b"\n"

    def format_heartbeat(self) -> bytes:
        return b"\n"


class XHRStreamHandler(StreamHandler):
    transport_name = "stream"
    transport_class = NDJSONTransport
    content_type = "application/x-ndjson; charset=utf-8"

    def preamble(self) -> bytes:
        return PADDING
