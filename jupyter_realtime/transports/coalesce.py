"""Coalesced writes: what a connection is sent in one event-loop turn leaves in two writes.

Public names: :class:`CoalescingWriter`, :data:`FLUSH_AT`.

Under a burst the hub delivers many publications to every subscriber in the same turn of
the event loop. Written one by one, each is a ``send`` system call and usually a TCP
segment of its own; the kernel's work per write is then most of the cost of a delivery.
A :class:`CoalescingWriter` writes the first frame of a turn at once (so light traffic
waits for nothing, not even for the rest of the turn) and keeps what follows in the same
turn in a pending list; one callback per loop turn, shared by every connection of the
server (not one per connection), joins each connection's pending frames and writes them
at once through :func:`fastwrite.write`. A burst of N frames in one turn is then two
writes instead of N.

The bound of the outbox is unchanged: a frame is refused (``StreamBufferFullError``,
which transports turn into ``OutboxFull``) when what the stream has queued plus what is
pending would exceed the stream's ``max_write_buffer_size``; pending bytes are written
out as soon as they reach :data:`FLUSH_AT`, so they never stand for much of the outbox.
Order is kept: every frame of a connection (publications, replies, events, heartbeats)
goes through the same pending list, and :meth:`CoalescingWriter.flush` runs before a
close frame or the end of a response.
"""

from __future__ import annotations

import asyncio
import logging
import os

from tornado import iostream

from . import fastwrite

__all__ = ["FLUSH_AT", "CoalescingWriter"]

log = logging.getLogger("jupyter_realtime.transports")

# pending bytes that are written at once instead of waiting for the end of the turn:
# large enough for a burst of small frames, small beside any outbox limit
FLUSH_AT = 64 << 10
_UNBOUNDED = 1 << 62  # the room of a stream without max_write_buffer_size
# JUPYTER_REALTIME_COALESCE=0 writes every frame at once, as before coalescing: only for
# measuring what coalescing changes (benchmarks/targets.py), not a setting
ENABLED = os.environ.get("JUPYTER_REALTIME_COALESCE", "1") != "0"


class _Flusher:
    """The one end-of-turn callback of a loop: flushes every writer with pending bytes."""

    __slots__ = ("loop", "writers", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.writers: list[CoalescingWriter] = []
        self.scheduled = False

    def add(self, writer: CoalescingWriter) -> None:
        self.writers.append(writer)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)

    def run(self) -> None:
        self.scheduled = False
        writers, self.writers = self.writers, []
        for writer in writers:
            try:
                writer.flush()
            except iostream.StreamBufferFullError:
                writer.overflow()
            except Exception:  # one connection's failure must not hold up the others
                log.exception("flushing a connection failed")
                writer.overflow()


_flusher: _Flusher | None = None


def _current() -> _Flusher:
    global _flusher
    loop = asyncio.get_running_loop()
    flusher = _flusher
    if flusher is None or flusher.loop is not loop:
        # a new loop (tests run several in turn): the old flusher keeps its own writers
        flusher = _flusher = _Flusher(loop)
    return flusher


class CoalescingWriter:
    """A connection's outgoing bytes, written once per loop turn.

    Subclasses set ``stream`` and implement :meth:`overflow` (what to do when a flush at
    the end of the turn finds the outbox full: close as a slow consumer).
    """

    __slots__ = ("stream", "_pending", "_pending_size", "_room")

    stream: iostream.IOStream

    def __init__(self, stream: iostream.IOStream) -> None:
        self.stream = stream
        self._pending: list[bytes] | None = None  # None, not [], keeps idle sockets small
        self._pending_size = 0
        self._room = 0  # what the outbox may still take this turn, while pending

    def enqueue(self, data: bytes) -> None:
        """Write ``data`` now if it is the connection's first frame of this turn, else
        queue it for the end of the turn; never blocks.

        Raises ``StreamBufferFullError`` when the outbox cannot take it (nothing of it is
        queued then); a closed stream is ignored (its close callback cleans up).
        """
        size = len(data)
        pending = self._pending
        if pending is not None:
            # the hot path of a burst: the stream's queue was measured by the first frame
            total = self._pending_size + size
            if size <= self._room and total <= FLUSH_AT:
                pending.append(data)
                self._pending_size = total
                self._room -= size
                return
            self.flush()  # make room: the kernel may take what is pending
        stream = self.stream
        if stream.closed():
            return
        limit = stream.max_write_buffer_size
        room = _UNBOUNDED if limit is None else limit - fastwrite.queued(stream)
        if size > room:
            # refused whole: half a frame sent, then a close frame, is a corrupt stream
            raise iostream.StreamBufferFullError("the outbox is full")
        # the first frame of the turn leaves at once: light traffic waits for nothing
        # (not even for the rest of the turn, e.g. a publish request's own response)
        fastwrite.write(stream, data)
        if ENABLED:
            self._pending = []  # what follows in this turn is joined into one write
            self._pending_size = 0
            self._room = room - size
            _current().add(self)

    def flush(self) -> None:
        """Write what is pending now (one write). Raises ``StreamBufferFullError``."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._pending_size = 0
        if pending:
            fastwrite.write(self.stream, pending[0] if len(pending) == 1 else b"".join(pending))

    def discard_pending(self) -> None:
        """Forget what is pending (the connection is being dropped)."""
        self._pending = None
        self._pending_size = 0

    def pending_bytes(self) -> int:
        return self._pending_size

    def overflow(self) -> None:
        raise NotImplementedError

    async def wait_for_room(self, limit: int, timeout: float) -> None:
        """Return once at most a quarter of ``limit`` is queued or pending; what is pending
        is written first when there is more. Raises ``StreamBufferFullError`` as
        :func:`fastwrite.wait_writable` does."""
        stream = self.stream
        if stream.closed() or fastwrite.queued(stream) + self._pending_size <= limit // 4:
            return
        self.flush()
        await fastwrite.wait_writable(stream, limit, timeout)
