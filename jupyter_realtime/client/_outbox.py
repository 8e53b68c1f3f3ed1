"""Commands on their way: queued to be sent, then in flight until their reply.

Public names: :class:`Outbox`, :class:`Pending`.

One writer task drains the queue onto the WebSocket, so commands are pipelined: the next
goes out before the previous reply is back. ``Outbox.put`` is thread-safe (a deque append
and, from another thread, one ``call_soon_threadsafe`` wake-up per batch), which is what
lets ``publish_nowait`` return at once from a kernel's thread. Replies settle commands by
``id``; after a drop, commands in flight fail (their fate is unknown) while queued ones wait
for the next connection, except publications that carry an ``idempotency_key``: the server
stores a key once, so those are sent again, first and in their order, on the next
connection.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..protocol import pack_binary
from ._errors import BadRequest, RateLimited, Unavailable, error_for

__all__ = ["Outbox", "Pending"]

BINARY = (bytes, bytearray, memoryview)


class Pending:
    """A command in the outbox or awaiting its reply."""

    __slots__ = (
        "id",
        "frame",
        "kind",
        "event",
        "result",
        "error",
        "callback",
        "cancelled",
        "done",
        "resend",
    )

    def __init__(
        self, cid: int, frame: str | bytes, kind: str, callback: Any = None, resend: bool = False
    ) -> None:
        self.id = cid
        self.frame = frame
        self.kind = kind
        self.resend = resend  # safe to send again after a drop (a publish with a key)
        self.callback: Callable[[Pending], None] | None = callback
        self.event: anyio.Event | None = None
        self.result: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.cancelled = self.done = False

    def settle(self, result: dict[str, Any] | None, error: BaseException | None) -> None:
        self.result, self.error, self.done = result or {}, error, True
        if self.event is not None:
            self.event.set()
        if self.callback is not None:
            self.callback(self)


def encode(cid: int, op: str, fields: dict[str, Any]) -> str | bytes:
    """A command as a text frame, or a binary frame when a publish carries bytes."""
    data = fields.pop("data", None)
    if isinstance(data, BINARY):
        return pack_binary({"id": cid, "op": op, **fields}, bytes(data))
    if op == "publish":
        fields["data"] = data
    try:
        command = {"id": cid, "op": op, **fields}
        return orjson.dumps(command, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError as exc:
        raise BadRequest(f"data is not JSON serializable: {exc}") from None


class Outbox:
    """``max_queue``: commands waiting to be sent before :meth:`put` raises RateLimited."""

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.queue: deque[Pending] = deque()
        self.inflight: dict[int, Pending] = {}
        self._ids = itertools.count(1)
        self._wakeup: anyio.Event | None = None
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def bind(self) -> None:
        """Remember the event loop (and its thread) that drains this outbox."""
        self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()

    def put(
        self, op: str, kind: str, callback: Any, front: bool, fields: dict[str, Any]
    ) -> Pending:
        cid = next(self._ids)
        resend = op == "publish" and fields.get("idempotency_key") is not None
        frame = encode(cid, op, fields)
        if not front and len(self.queue) >= self.max_queue:
            raise RateLimited(f"{len(self.queue)} commands wait to be sent; await one, or flush()")
        p = Pending(cid, frame, kind or op, callback, resend)
        self.queue.appendleft(p) if front else self.queue.append(p)
        self.wake()
        return p

    def wake(self) -> None:
        if threading.get_ident() == self._thread:
            self._wake_now()
        elif not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._wake_now)

    def _wake_now(self) -> None:
        self._wake_pending = False
        if self._wakeup is not None:
            self._wakeup.set()

    async def drain(self, ws: ClientConnection) -> None:
        """Send queued commands in order until the connection closes."""
        queue, inflight = self.queue, self.inflight
        try:
            while True:
                if not queue:
                    self._wakeup = anyio.Event()
                    if not queue:
                        await self._wakeup.wait()
                    continue
                p = queue.popleft()
                if p.cancelled:
                    continue
                inflight[p.id] = p
                await ws.send(p.frame)
        except ConnectionClosed:
            pass  # the reader sees the close too

    async def wait(self, p: Pending, limit: float, state: str) -> dict[str, Any]:
        """The result of ``p`` within ``limit`` seconds; its typed error if it failed."""
        if not p.done:
            p.event = anyio.Event()
            try:
                with anyio.move_on_after(limit):
                    await p.event.wait()
            finally:
                if not p.done:
                    p.cancelled = True
                    self.inflight.pop(p.id, None)
        if not p.done:
            raise Unavailable(f"no reply to {p.kind} within {limit} s (client {state})")
        if p.error is not None:
            raise p.error
        return p.result

    def reply(self, frame: dict[str, Any]) -> bool:
        """Settle the command a reply answers; False if none waits for it."""
        p = self.inflight.pop(frame["id"], None)
        if p is None:
            return False
        error = frame.get("error")
        p.settle(frame.get("result"), error and error_for(error["code"], error["message"]))
        return True

    def lost(self, error: BaseException) -> None:
        """The connection dropped: what was in flight fails, what is queued stays.

        A publication with an idempotency key does not fail: it goes back to the front of
        the queue (in the order it was sent) to be sent again on the next connection.
        """
        inflight, self.inflight = self.inflight, {}
        again = [p for p in inflight.values() if p.resend and not p.cancelled]
        self.queue.extendleft(reversed(again))
        for p in inflight.values():
            if not (p.resend and not p.cancelled):
                p.settle(None, error)

    def fail_all(self, error: BaseException) -> None:
        pending = [*self.inflight.values(), *self.queue]
        self.inflight.clear()
        self.queue.clear()
        for p in pending:
            p.settle(None, error)
        self.wake()

    def cancel(self, kind: str) -> None:
        for p in self.queue:
            if p.kind == kind:
                p.cancelled = True
