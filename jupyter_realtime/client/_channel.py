"""A channel of an :class:`AsyncClient`: publish, history, presence, and subscriptions.

Public names: :class:`AsyncChannel`, :class:`AsyncSubscription`, :func:`report`,
:func:`new_key`.

A publication may carry an ``idempotency_key``: the server stores a publication once per
key and channel (``docs/protocol.md``), so the client sends a keyed publication again after a
reconnection instead of failing it. ``publish_nowait`` and ``publish_many`` key every
publication themselves.
"""

from __future__ import annotations

import collections
import functools
import inspect
import itertools
import os
import sys
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Union

import anyio

from ..errors import RealtimeError
from ..protocol import Position, validate_channel, validate_key
from ._errors import BadKey, BadRequest, ConnectionLost, GapError
from ._message import Message

if TYPE_CHECKING:
    from ._connection import AsyncClient
    from ._outbox import Pending
    from ._subscription import Listener

__all__ = ["AsyncChannel", "AsyncSubscription", "Since", "new_key", "report"]

#: where a subscription starts: a position, ``(epoch, offset)``, or an offset in the current epoch
Since = Union[Position, tuple[str, int], int, None]  # noqa: UP007 (a runtime alias on 3.10)


_keys = itertools.count(1)
_prefix = uuid.uuid4().hex[:16]


def _new_prefix() -> None:
    global _prefix
    _prefix = uuid.uuid4().hex[:16]


os.register_at_fork(after_in_child=_new_prefix)  # a forked child must not repeat our keys


def new_key() -> str:
    """A fresh idempotency key: random per process, then a counter (cheap, thread-safe)."""
    return f"{_prefix}-{next(_keys)}"


def report(callback: Callable[..., Any], error: BaseException) -> None:
    """Print a user callback's exception (in a kernel: in the notebook) and carry on."""
    name = getattr(callback, "__qualname__", repr(callback))
    print(f"jupyter_realtime: callback {name} raised:", file=sys.stderr)
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)


class AsyncChannel:
    """A named channel on one connection (get it with ``client.channel(name)``)."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        try:
            self.name = validate_channel(name)
        except RealtimeError as exc:
            raise BadRequest(exc.message) from None
        self.client = client
        self._callbacks: _Callbacks | None = None
        self._error: BaseException | None = None  # of a publish_nowait, raised by flush()

    def __repr__(self) -> str:
        return f"AsyncChannel({self.name!r})"

    # -- publishing --

    async def publish(
        self,
        data: Any,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        key: str | None = None,
    ) -> Position:
        """Publish JSON data (or ``bytes``); the position the server gave it.

        ``idempotency_key``: a string naming this publication; the server stores one
        publication per key and channel, and the client sends it again (instead of raising
        :class:`ConnectionLost`) if the connection drops before the reply.
        ``key``: the channel keeps this publication as the latest of ``key`` beyond its
        history (``history(key=...)`` returns it); 1 to 200 characters of ``A-Z a-z 0-9
        _ - . : @ / = + ,`` (else :class:`BadRequest` with code ``bad_key``).
        """
        fields = _key_fields(idempotency_key, key)
        result = await self.client.request(
            "publish", channel=self.name, data=data, timeout=timeout, **fields
        )
        return Position(result["epoch"], result["offset"])

    def publish_nowait(
        self,
        data: Any,
        *,
        idempotency_key: str | None = None,
        callback: Callable[[Position | None, BaseException | None], Any] | None = None,
        key: str | None = None,
    ) -> None:
        """Queue a publication and return at once; safe to call from any thread.

        As anyio's ``send_nowait``: if this raises, the publication was not queued
        (:class:`RateLimited` when too many wait to be sent, :class:`BadRequest` for data
        that is not JSON, the client's error when it is closed); if it returns, it was.
        Publications are sent in order and pipelined. Each carries an idempotency key
        (``idempotency_key``, else a new one), so a publication in flight when the
        connection drops is sent again on the next one, and stored once.

        The server's answer comes later: ``callback(position, None)`` or
        ``callback(None, error)`` (in the client's loop; it must not block), and the first
        error since the last :meth:`flush` is raised by the next :meth:`flush`. A failure is
        never raised by a later ``publish_nowait``: that call is about its own message.
        ``key``: as for :meth:`publish`.
        """
        done = self._done if callback is None else functools.partial(self._done_with, callback)
        self.client.command(
            "publish",
            channel=self.name,
            data=data,
            callback=done,
            **_key_fields(idempotency_key or new_key(), key),
        )

    async def publish_many(
        self, items: Iterable[Any], *, timeout: float | None = None
    ) -> list[Position]:
        """Publish each item, pipelined and keyed as by :meth:`publish_nowait`; their positions."""
        pending = [
            self.client.command("publish", channel=self.name, data=d, idempotency_key=new_key())
            for d in items
        ]
        results = [await self.client.wait(p, timeout) for p in pending]
        return [Position(r["epoch"], r["offset"]) for r in results]

    async def flush(self, *, timeout: float | None = None) -> None:
        """Wait until the server has answered every publication queued before this call.

        A ping lost with the connection is sent again (keyed publications before it are
        sent again too, so its reply still comes after theirs).
        """
        limit = self.client.timeout if timeout is None else timeout
        deadline = anyio.current_time() + limit
        while True:
            try:
                await self.client.request("ping", timeout=deadline - anyio.current_time())
                break
            except ConnectionLost:
                if anyio.current_time() >= deadline:
                    raise
        self._raise_pending_error()

    def _done(self, p: Pending) -> None:
        """A publish_nowait settled: its error is kept for the next flush()."""
        if p.error is not None and self._error is None:
            self._error = p.error

    def _done_with(self, callback: Callable[..., Any], p: Pending) -> None:
        """As :meth:`_done`, then tell the publication's own callback."""
        self._done(p)
        position = None if p.error else Position(p.result["epoch"], p.result["offset"])
        try:
            callback(position, p.error)
        except Exception as exc:  # a callback never breaks the client's loop
            report(callback, exc)

    def _raise_pending_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    # -- reading --

    async def history(
        self,
        limit: int = 100,
        *,
        since: Since = None,
        key: str | None = None,
        key_prefix: str | None = None,
    ) -> list[Message]:
        """The newest ``limit`` publications, oldest first (with ``since``: the first after it).

        The server answers in pages of bounded size (``more``); this follows them. With
        ``key``: the latest publication of that key (a list of one, or empty), however many
        publications came after it; with ``key_prefix``: the latest publication of each key
        starting with it (the ``limit`` published most recently), oldest first."""
        fields: dict[str, Any] = {"channel": self.name, "limit": limit}
        if key is not None or key_prefix is not None:
            keyed = {"key": key} if key is not None else {"key_prefix": key_prefix}
            result = await self.client.request("history", **keyed, **fields)
            return [Message.from_frame(frame) for frame in result["publications"]]
        position = await self._resolve(since)
        messages: list[Message] = []
        while True:
            if position is not None:
                fields["since"] = {"epoch": position.epoch, "offset": position.offset}
            result = await self.client.request("history", **fields)
            messages += [Message.from_frame(frame) for frame in result["publications"]]
            if not result.get("more") or len(messages) >= limit:
                return messages[:limit]
            position = messages[-1].position
            fields["limit"] = limit - len(messages)

    async def presence(self) -> list[dict[str, Any]]:
        """Who is subscribed with ``presence=True``: ``{client, user, name, color}`` each."""
        return list((await self.client.request("presence", channel=self.name))["clients"])

    async def _resolve(self, since: Since) -> Position | None:
        if since is None or isinstance(since, Position):
            return since
        if isinstance(since, tuple):
            return Position(*since)
        result = await self.client.request("history", channel=self.name, limit=1)
        return Position(result["epoch"], int(since))

    async def latest(self, key: str) -> Message | None:
        """The latest publication of ``key`` (None if the channel keeps none)."""
        found = await self.history(1, key=key)
        return found[0] if found else None

    # -- subscribing --

    def subscribe(self, since: Since = None, *, presence: bool = False) -> AsyncSubscription:
        """An async iterator of publications (``async for msg in channel.subscribe()``).

        Use ``async with channel.subscribe() as sub`` to be subscribed before the block runs.
        ``since``: replay what came after that position first. ``presence``: appear in
        :meth:`presence`. A gap in a resumed subscription raises :class:`GapError` from
        the iteration, after which it may go on.
        """
        return AsyncSubscription(self, since, presence)

    async def listen(
        self, listener: Listener, *, since: Since = None, presence: bool = False
    ) -> None:
        await self.client.listen(
            self.name, listener, since=await self._resolve(since), presence=presence
        )

    def unlisten(self, listener: Listener) -> None:
        self.client.unlisten(self.name, listener)

    async def add_callbacks(
        self,
        on_message: Callable[[Message], Any] | None = None,
        on_gap: Callable[[GapError], Any] | None = None,
    ) -> None:
        """Add callbacks (run in the client's event loop) and wait until subscribed."""
        callbacks = self._callbacks
        if callbacks is None:
            callbacks = self._callbacks = _Callbacks(self.client)
            await self.listen(callbacks)
        if on_message is not None:
            callbacks.on_message.append(on_message)
        if on_gap is not None:
            callbacks.on_gap.append(on_gap)

    def on_message(self, callback: Callable[[Message], Any]) -> Callable[[Message], Any]:
        """Decorator: call ``callback(msg)`` for every publication (sync or async callback)."""
        self.client.spawn(self.add_callbacks, callback)
        return callback

    def on_gap(self, callback: Callable[[GapError], Any]) -> Callable[[GapError], Any]:
        """Decorator: call ``callback(error)`` when a resumed subscription missed publications."""
        self.client.spawn(self.add_callbacks, None, callback)
        return callback

    async def unsubscribe(self) -> None:
        """Remove the callbacks of :meth:`on_message` / :meth:`on_gap`."""
        callbacks, self._callbacks = self._callbacks, None
        if callbacks is not None:
            self.unlisten(callbacks)


class _Callbacks:
    """The listener behind ``on_message``/``on_gap``: a raising callback is reported, not fatal."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.on_message: list[Callable[[Message], Any]] = []
        self.on_gap: list[Callable[[GapError], Any]] = []

    def _call(self, callback: Callable[[Any], Any], arg: Any) -> None:
        try:
            result = callback(arg)
            if inspect.isawaitable(result):
                self.client.spawn(_await, callback, result)
        except Exception as exc:
            report(callback, exc)

    def message(self, msg: Message) -> None:
        for callback in list(self.on_message):
            self._call(callback, msg)

    def gap(self, error: GapError) -> None:
        if not self.on_gap:
            warnings.warn(f"{error} (register @channel.on_gap to handle this)", RuntimeWarning, 2)
        for callback in list(self.on_gap):
            self._call(callback, error)

    def end(self, error: BaseException | None) -> None:
        if error is not None:
            print(f"jupyter_realtime: subscription ended: {error!r}", file=sys.stderr)


async def _await(callback: Callable[..., Any], awaitable: Any) -> None:
    try:
        await awaitable
    except Exception as exc:
        report(callback, exc)


class AsyncSubscription:
    """Publications of one channel as an async iterator; see :meth:`AsyncChannel.subscribe`."""

    def __init__(self, channel: AsyncChannel, since: Since, presence: bool) -> None:
        self.channel = channel
        self._since, self._presence = since, presence
        self._items: collections.deque[Message | BaseException] = collections.deque()
        self._ready: anyio.Event | None = None
        self._started = self._ended = False

    async def start(self) -> AsyncSubscription:
        """Subscribe (done by the first ``__anext__`` otherwise)."""
        if not self._started:
            self._started = True
            await self.channel.listen(self, since=self._since, presence=self._presence)
        return self

    async def aclose(self) -> None:
        if self._started and not self._ended:
            self.channel.unlisten(self)

    async def __aenter__(self) -> AsyncSubscription:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncSubscription:
        return self

    async def __anext__(self) -> Message:
        await self.start()
        while not self._items:
            if self._ended:
                raise StopAsyncIteration
            self._ready = anyio.Event()
            await self._ready.wait()
        item = self._items.popleft()
        if isinstance(item, BaseException):
            raise item
        return item

    # Listener (called in the client's loop)

    def _push(self, item: Message | BaseException) -> None:
        self._items.append(item)
        if self._ready is not None:
            self._ready.set()

    def message(self, msg: Message) -> None:
        self._push(msg)

    def gap(self, error: GapError) -> None:
        self._push(error)

    def end(self, error: BaseException | None) -> None:
        self._ended = True
        if error is not None:
            self._items.append(error)
        if self._ready is not None:
            self._ready.set()


def _key_fields(idempotency_key: str | None, key: str | None) -> dict[str, Any]:
    """The optional key fields of a publish command; a bad ``key`` raises :class:`BadKey`
    here, before anything is queued."""
    fields = {} if idempotency_key is None else {"idempotency_key": idempotency_key}
    if key is not None:
        try:
            fields["key"] = validate_key(key) or key
        except RealtimeError as exc:
            raise BadKey(exc.message) from None
    return fields
