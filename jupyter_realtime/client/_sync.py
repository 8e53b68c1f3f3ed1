"""The blocking client: a thin facade over :class:`AsyncClient` through anyio's blocking portal.

Public names: :class:`Client`, :class:`Channel`, :class:`Subscription`.

The async client runs on a daemon thread of its own, so a call from a kernel returns after
one round trip whether or not a cell is running, and the connection keeps receiving while
cells run. Callbacks and iteration come back to the caller's side: into the caller's asyncio
loop when there is one (a kernel's), else onto one callback thread of the client.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal

from ..protocol import Position
from ._channel import AsyncChannel, Since, _await, report
from ._connection import AsyncClient, State
from ._discovery import Endpoint
from ._errors import GapError
from ._message import Message
from ._subscription import Listener

__all__ = ["Channel", "Client", "Subscription"]


def _start_portal() -> BlockingPortal:
    """A portal on a daemon thread (it never keeps the interpreter from exiting)."""
    ready, box = threading.Event(), {}

    async def serve() -> None:
        async with BlockingPortal() as portal:
            box["portal"] = portal
            ready.set()
            await portal.sleep_until_stopped()

    threading.Thread(target=anyio.run, args=(serve,), name="jupyter-realtime", daemon=True).start()
    ready.wait()
    return box["portal"]


class Client:
    """A blocking connection; arguments as :class:`AsyncClient`. Usable from any thread."""

    def __init__(self, url: str | None = None, token: str | None = None, **options: Any) -> None:
        self._portal = _start_portal()
        self._async = AsyncClient(url, token, **options)
        self._cm = self._portal.wrap_async_context_manager(self._async)
        self._dispatcher: _Dispatcher | None = None
        self._closed = False
        try:
            self._cm.__enter__()
        except BaseException:
            self._portal.call(self._portal.stop)
            raise

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a method of the async client (or channel) on its thread and return its result."""
        return self._portal.call(functools.partial(fn, *args, **kwargs))

    @property
    def state(self) -> State:
        return self._async.state

    @property
    def endpoint(self) -> Endpoint | None:
        return self._async.endpoint

    def close(self) -> None:
        """Close the connection and stop the client's threads; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._cm.__exit__(None, None, None)
        finally:
            self._portal.call(self._portal.stop)
            if self._dispatcher is not None:
                self._dispatcher.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def channel(self, name: str) -> Channel:
        return Channel(self, self.call(self._async.channel, name))

    def channels(self) -> list[dict[str, Any]]:
        return self.call(self._async.channels)  # type: ignore[no-any-return]

    def to_caller(self, callback: Callable[[Any], Any]) -> Callable[[Any], None]:
        """Wrap ``callback`` to run on the caller's side: its asyncio loop, or a callback thread."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._dispatcher is None:
                self._dispatcher = _Dispatcher()
            return functools.partial(self._dispatcher.put, callback)

        def in_loop(arg: Any) -> None:
            loop.call_soon_threadsafe(_run_callback, callback, arg)

        return in_loop


def _run_callback(callback: Callable[[Any], Any], arg: Any) -> None:
    try:
        result = callback(arg)
        if inspect.isawaitable(result):
            # reported if it raises, and referenced until done (the loop keeps weak ones)
            task = asyncio.ensure_future(_await(callback, result))
            _running.add(task)
            task.add_done_callback(_running.discard)
    except Exception as exc:
        report(callback, exc)


_running: set[asyncio.Future[None]] = set()


class _Dispatcher:
    """One thread that runs callbacks in order, for callers without an event loop."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="jupyter-realtime-callbacks", daemon=True).start()

    def put(self, callback: Callable[[Any], Any], arg: Any) -> None:
        self._queue.put((callback, arg))

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            _run_callback(*item)


class Channel:
    """The blocking twin of :class:`AsyncChannel`; each method does what the async one does."""

    def __init__(self, client: Client, channel: AsyncChannel) -> None:
        self.client = client
        self.name = channel.name
        self._async = channel

    def __repr__(self) -> str:
        return f"Channel({self.name!r})"

    def publish(
        self,
        data: Any,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        key: str | None = None,
    ) -> Position:
        return self.client.call(  # type: ignore[no-any-return]
            self._async.publish, data, timeout=timeout, idempotency_key=idempotency_key, key=key
        )

    def publish_nowait(
        self,
        data: Any,
        *,
        idempotency_key: str | None = None,
        callback: Callable[[Position | None, BaseException | None], Any] | None = None,
        key: str | None = None,
    ) -> None:
        # thread-safe: no round trip to the client's thread; `callback` runs in that thread
        self._async.publish_nowait(
            data, idempotency_key=idempotency_key, callback=callback, key=key
        )

    def publish_many(self, items: Iterable[Any], *, timeout: float | None = None) -> list[Position]:
        return self.client.call(self._async.publish_many, list(items), timeout=timeout)  # type: ignore[no-any-return]

    def flush(self, *, timeout: float | None = None) -> None:
        self.client.call(self._async.flush, timeout=timeout)

    def history(
        self,
        limit: int = 100,
        *,
        since: Since = None,
        key: str | None = None,
        key_prefix: str | None = None,
    ) -> list[Message]:
        return self.client.call(  # type: ignore[no-any-return]
            self._async.history, limit, since=since, key=key, key_prefix=key_prefix
        )

    def latest(self, key: str) -> Message | None:
        return self.client.call(self._async.latest, key)  # type: ignore[no-any-return]

    def presence(self) -> list[dict[str, Any]]:
        return self.client.call(self._async.presence)  # type: ignore[no-any-return]

    def subscribe(self, since: Since = None, *, presence: bool = False) -> Subscription:
        return Subscription(self, since, presence)

    def on_message(self, callback: Callable[[Message], Any]) -> Callable[[Message], Any]:
        self.client.call(self._async.add_callbacks, self.client.to_caller(callback))
        return callback

    def on_gap(self, callback: Callable[[GapError], Any]) -> Callable[[GapError], Any]:
        self.client.call(self._async.add_callbacks, None, self.client.to_caller(callback))
        return callback

    def unsubscribe(self) -> None:
        self.client.call(self._async.unsubscribe)

    def listen(self, listener: Listener, *, since: Since = None) -> None:
        """Add a low-level listener (``message``/``gap``/``end``), called on the client's
        thread in order; it must not block. Subscribes on the server if it is the first."""
        self.client.call(self._async.listen, listener, since=since)

    def unlisten(self, listener: Listener) -> None:
        self.client.call(self._async.unlisten, listener)


class _End:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Subscription:
    """Publications of one channel, subscribed from the start: iterate with ``for`` (blocking)
    or ``async for`` (in the caller's asyncio loop, e.g. a kernel's). A gap raises
    :class:`GapError` and iteration may go on; ``close()`` (or ``with``) unsubscribes."""

    def __init__(self, channel: Channel, since: Since, presence: bool) -> None:
        self.channel = channel
        self._queue: queue.SimpleQueue[Message | BaseException | _End] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Event | None = None
        self._ended = False
        channel.client.call(channel._async.listen, self, since=since, presence=presence)

    def close(self) -> None:
        if not self._ended:
            self.channel.client.call(self.channel._async.unlisten, self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _take(self, item: Message | BaseException | _End) -> Message:
        if isinstance(item, _End):
            self._ended = True
            if item.error is not None:
                raise item.error
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def __iter__(self) -> Subscription:
        return self

    def __next__(self) -> Message:
        if self._ended:
            raise StopIteration
        return self._take(self._queue.get())

    def __aiter__(self) -> Subscription:
        self._loop, self._ready = asyncio.get_running_loop(), asyncio.Event()
        return self

    async def __anext__(self) -> Message:
        assert self._ready is not None, "use `async for`"
        while not self._ended:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                self._ready.clear()
                await self._ready.wait()
                continue
            try:
                return self._take(item)
            except StopIteration:
                break
        raise StopAsyncIteration

    # Listener (called on the client's thread)

    def _put(self, item: Message | BaseException | _End) -> None:
        self._queue.put(item)
        loop, ready = self._loop, self._ready
        if loop is not None and ready is not None:
            loop.call_soon_threadsafe(ready.set)

    def message(self, msg: Message) -> None:
        self._put(msg)

    def gap(self, error: GapError) -> None:
        self._put(error)

    def end(self, error: BaseException | None) -> None:
        self._put(_End(error))
