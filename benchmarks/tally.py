"""Counting deliveries: the publish body, and lost / duplicated / out-of-order bookkeeping.

Every publish body is ``{"seq": S, "t": T, "pad": "..."}`` (``t`` = ``time.time()`` at send),
so that the publication frame the servers build is about 200 bytes. Subscribers find
``seq`` and ``t`` with one regular expression over the received bytes instead of decoding
JSON, whatever the envelope (hub frame, Socket.IO event, SSE ``data:`` line). ``seq`` 0 is
a warm-up publication; measured ones are numbered ``base + 1 .. base + k``.
"""

from __future__ import annotations

import re
import time
from array import array

import orjson

SEQ_T = re.compile(rb'"seq":\s*(\d+),\s*"t":\s*([0-9.]+)')
_PAD = "x" * 60


def body(seq: int) -> bytes:
    """A publish body stamped with its sequence number and the send time."""
    return orjson.dumps({"seq": seq, "t": time.time(), "pad": _PAD})


class Recorder:
    """Totals for one phase of one scenario, shared by all subscribers."""

    def __init__(self) -> None:
        self.base = 0
        self.k = 0
        self.delivered = 0
        self.dup = 0
        self.ooo = 0
        self.stray = 0
        self.last = 0.0
        self.latencies = array("d")
        self.streams = 1

    def start(self, base: int, k: int, streams: int = 1) -> None:
        """Begin a phase expecting ``seq`` in ``base + 1 .. base + k``, from ``streams``
        publishers: order is checked within each (``seq`` modulo ``streams``), since
        publications of different publishers have no order until the server gives them one."""
        self.__init__()  # type: ignore[misc]
        self.base, self.k, self.streams = base, k, streams


class Tally:
    """One subscriber's view: which publications of the phase it has seen."""

    __slots__ = ("rec", "seen", "tops", "warm", "count")

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.seen = bytearray(0)
        self.tops = [0]
        self.warm = False
        self.count = 0

    def reset(self) -> None:
        self.seen = bytearray(self.rec.k + 1)
        self.tops = [0] * self.rec.streams
        self.count = 0

    def feed(self, data: bytes, now: float) -> None:
        """Count every publication found in ``data`` (complete messages only)."""
        rec = self.rec
        seen = self.seen
        base = rec.base
        tops = self.tops
        streams = len(tops)
        n = 0
        for m in SEQ_T.finditer(data):
            i = int(m[1]) - base
            if i <= 0 or i >= len(seen):
                if m[1] == b"0":
                    self.warm = True
                else:
                    rec.stray += 1
                continue
            if seen[i]:
                rec.dup += 1
                continue
            seen[i] = 1
            stream = (i - 1) % streams
            if i < tops[stream]:
                rec.ooo += 1
            else:
                tops[stream] = i
            rec.latencies.append(now - float(m[2]))
            n += 1
        if n:
            self.count += n
            rec.delivered += n
            rec.last = now
