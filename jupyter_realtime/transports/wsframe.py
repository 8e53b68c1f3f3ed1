"""RFC 6455 frames as a server writes them (unmasked, no extensions).

Public names: :func:`text_frame`, :func:`binary_frame`, :func:`publication_frame`.
Building the frame once per publication and writing the same bytes to every subscriber's
stream is what makes fan-out cheap (see ``docs/performance.md``); it is valid only while
no compression extension is negotiated, which the WebSocket handler ensures.
"""

from __future__ import annotations

import struct

from ..protocol import Publication, pack_binary

__all__ = ["binary_frame", "publication_frame", "text_frame"]

OP_TEXT = 0x1
OP_BINARY = 0x2


def _frame(opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    first = 0x80 | opcode  # FIN + opcode
    if size < 126:
        return struct.pack("!BB", first, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def text_frame(payload: bytes) -> bytes:
    return _frame(OP_TEXT, payload)


def binary_frame(payload: bytes) -> bytes:
    return _frame(OP_BINARY, payload)


def publication_frame(pub: Publication) -> bytes:
    """The WebSocket frame of a publication, built once and cached on it."""
    frame = pub.frames.get("ws")
    if frame is None:
        if pub.binary:
            frame = binary_frame(pack_binary(pub.header(), pub.payload))
        else:
            frame = text_frame(pub.json())
        pub.frames["ws"] = frame
    return frame
