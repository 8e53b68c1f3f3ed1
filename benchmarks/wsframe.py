"""Minimal RFC 6455 framing: just enough for the reference servers and the load client.

No compression and no fragmentation on the sending side. Client frames use an all-zero
mask key, which RFC 6455 allows and which makes masking a no-op (servers do not check
how unpredictable the key is), so the load client pays nothing for it.
"""

from __future__ import annotations

import struct

TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

_ZERO_MASK = b"\x00\x00\x00\x00"


def encode_frame(payload: bytes, opcode: int = TEXT, *, masked: bool = False) -> bytes:
    """One final frame; ``masked`` for client-to-server frames (zero key)."""
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, mask_bit | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, mask_bit | 127, n)
    if masked:
        return header + _ZERO_MASK + payload
    return header + payload


def decode_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """Remove the complete (unmasked or masked) frames at the front of ``buf``.

    Returns ``(opcode, payload)`` pairs; continuation frames come back with opcode 0 and
    the caller joins them if it cares (the benchmark servers never fragment).
    """
    out: list[tuple[int, bytes]] = []
    pos = 0
    end = len(buf)
    while end - pos >= 2:
        b0 = buf[pos]
        b1 = buf[pos + 1]
        n = b1 & 0x7F
        head = 2
        if n == 126:
            if end - pos < 4:
                break
            n = (buf[pos + 2] << 8) | buf[pos + 3]
            head = 4
        elif n == 127:
            if end - pos < 10:
                break
            n = struct.unpack_from("!Q", buf, pos + 2)[0]
            head = 10
        mask = b""
        if b1 & 0x80:
            if end - pos < head + 4:
                break
            mask = bytes(buf[pos + head : pos + head + 4])
            head += 4
        if end - pos < head + n:
            break
        payload = bytes(buf[pos + head : pos + head + n])
        if mask and mask != _ZERO_MASK:
            payload = bytes(c ^ mask[i & 3] for i, c in enumerate(payload))
        out.append((b0 & 0x0F, payload))
        pos += head + n
    if pos:
        del buf[:pos]
    return out


def data_frames_end(data: bytes, prefix: bytes = b"") -> bool:
    """True if ``data`` is exactly a run of complete, final, unmasked text frames.

    Each payload must also start with ``prefix``. This is the load client's fast path: such a
    chunk can be scanned for publications as a whole, without splitting it into frames.
    """
    pos, end, plen = 0, len(data), len(prefix)
    while pos < end:
        if data[pos] != 0x81 or end - pos < 2:
            return False
        n = data[pos + 1]
        head = 2
        if n == 126:
            if end - pos < 4:
                return False
            n = (data[pos + 2] << 8) | data[pos + 3]
            head = 4
        elif n > 126:  # masked, or a 64-bit length: not on the fast path
            return False
        if plen and data[pos + head : pos + head + plen] != prefix:
            return False
        pos += head + n
    return pos == end
