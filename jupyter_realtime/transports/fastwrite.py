"""Writing prepared bytes to a Tornado stream with as little work per write as possible.

Public names: :func:`write`, :func:`queued`, :func:`wait_writable`. Fan-out writes the
same few hundred bytes to thousands of connections; ``IOStream.write`` spends most of its
time in bookkeeping (a buffer entry, a future, a memoryview) around the one ``send``
that matters. When the stream has nothing queued, :func:`write` hands the bytes to the
socket directly and falls back to ``IOStream.write`` only for what the kernel did not
take, so ordering is kept and the stream's ``max_write_buffer_size`` still bounds what is
queued (``StreamBufferFullError``). :func:`wait_writable` lets a replay wait for room.
See ``docs/performance.md`` for the measurements.
"""

from __future__ import annotations

import asyncio

from tornado import iostream

from ._compat import queued, send_now

__all__ = ["queued", "wait_writable", "write"]


def write(stream: iostream.IOStream, data: bytes) -> None:
    """Write ``data`` now or queue it behind what is queued; never blocks.

    Raises ``StreamBufferFullError`` when the stream's write buffer would exceed its
    ``max_write_buffer_size``; a closed stream is ignored (its close callback cleans up).
    """
    if stream.closed():
        return
    limit = stream.max_write_buffer_size
    if limit is not None and len(data) > limit:
        # refuse it whole: half a frame sent, then a close frame, is a corrupt stream
        raise iostream.StreamBufferFullError("a frame larger than the outbox")
    if type(stream) is iostream.IOStream and not stream.writing():
        sent = send_now(stream, data)  # an error is left to IOStream.write, which closes
        if sent == len(data):
            return
        if sent:
            data = data[sent:]
    try:
        stream.write(data)
    except iostream.StreamClosedError:
        pass


async def wait_writable(stream: iostream.IOStream, limit: int, timeout: float) -> None:
    """Return once at most a quarter of ``limit`` is queued: at once when it is, else
    when everything queued has been sent (or the stream closed).

    Raises ``StreamBufferFullError`` when that takes more than ``timeout`` seconds: a
    reader that stalls during a replay is a slow consumer like any other (meanwhile the
    hub keeps its live publications, which must not grow without end).
    """
    if stream.closed() or queued(stream) <= limit // 4:
        return
    try:
        # resolves when what is queued before it has been sent
        await asyncio.wait_for(stream.write(b""), timeout)
    except iostream.StreamClosedError:
        pass
    except asyncio.TimeoutError:
        raise iostream.StreamBufferFullError("the outbox did not drain") from None
