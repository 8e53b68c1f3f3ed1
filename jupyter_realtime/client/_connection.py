"""The async client: one WebSocket to ``realtime/ws``, its outbox, replies and reconnection.

Public names: :class:`AsyncClient`, :class:`State`, :class:`Listener`.

One implementation on anyio (the WebSocket is the ``websockets`` library's asyncio client).
Commands go through an outbox drained by one writer task, so publishes are pipelined: the
next is sent before the previous reply arrives, and ``publish_nowait`` may be called from any
thread. Replies are matched by ``id``. When the connection drops (anything but a terminal
close code 4500-4999), the client reconnects with exponential backoff and jitter, looks for
the server again (``_discovery``), and resubscribes every channel with ``since`` set to the
last position it delivered, so nothing is lost or repeated; when the server cannot reach
back that far (``recovered: false``) the channel's listeners get a :class:`GapError`.
Commands sent before a drop whose reply never came fail with :class:`ConnectionLost`;
commands not yet sent wait for the next connection (up to ``timeout``).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import logging
import random
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..protocol import Position, pack_binary, unpack_binary
from ._channel import AsyncChannel
from ._discovery import Endpoint, candidates, describe
from ._errors import (
    BadRequest,
    ConnectionLost,
    Forbidden,
    GapError,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    error_for,
)
from ._message import Message

__all__ = ["AsyncClient", "Listener", "State"]

log = logging.getLogger("jupyter_realtime.client")


class State(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


_NEXT = {
    State.IDLE: {State.CONNECTING, State.CLOSED},
    State.CONNECTING: {State.OPEN, State.CLOSED},
    State.OPEN: {State.RECONNECTING, State.CLOSED},
    State.RECONNECTING: {State.OPEN, State.CLOSED},
    State.CLOSED: set(),
}


class Listener(Protocol):
    """Receives a channel's traffic, in the client's event loop; must not block."""

    def message(self, msg: Message) -> None: ...

    def gap(self, error: GapError) -> None: ...

    def end(self, error: BaseException | None) -> None:
        """The subscription is over: None after ``unsubscribe``/close, else why."""


class _Pending:
    """A command in the outbox or awaiting its reply."""

    __slots__ = ("id", "frame", "kind", "event", "result", "error", "callback", "cancelled", "done")

    def __init__(self, cid: int, frame: str | bytes, kind: str, callback: Any = None) -> None:
        self.id = cid
        self.frame = frame
        self.kind = kind
        self.callback: Callable[[_Pending], None] | None = callback
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


class _Subscription:
    """A channel subscribed on the server, shared by its local listeners."""

    def __init__(self, channel: str, since: Position | None, presence: bool) -> None:
        self.channel = channel
        self.position = since  # the last position delivered (or asked for)
        self.presence = presence
        self.listeners: list[Listener] = []
        self.confirmed = anyio.Event()
        self.error: BaseException | None = None
        # while resuming: the replay, held until the reply says whether it is complete
        self.replay: list[Message] | None = None

    def deliver(self, msg: Message) -> None:
        if self.replay is not None:
            self.replay.append(msg)
            return
        pos = self.position
        if pos is not None and msg.epoch == pos.epoch and msg.offset <= pos.offset:
            return  # already delivered before a reconnection
        self.position = Position(msg.epoch, msg.offset)
        for listener in list(self.listeners):
            _safely(listener.message, msg)

    def resumed(self, gap: GapError | None) -> None:
        """The subscribe reply came: report a gap first, then deliver the replay."""
        replay, self.replay = self.replay or [], None
        if gap is not None:
            for listener in list(self.listeners):
                _safely(listener.gap, gap)
        for msg in replay:
            self.deliver(msg)

    def end(self, error: BaseException | None) -> None:
        self.error = error
        self.confirmed.set()
        for listener in list(self.listeners):
            _safely(listener.end, error)
        self.listeners.clear()


def _safely(fn: Callable[[Any], None], arg: Any) -> None:
    try:
        fn(arg)
    except Exception:
        log.exception("a listener of jupyter_realtime failed")


class AsyncClient:
    """A connection to a Jupyter server's realtime hub; use as ``async with AsyncClient():``.

    ``url``/``token``: the server (``http://host:port/base_url/``); when omitted, found as
    ``_discovery`` describes. ``reconnect`` (default True): reconnect after a drop.
    ``timeout`` (seconds, default 30): how long a command waits for its reply, including
    while reconnecting. ``backoff`` (seconds, default (0.1, 10)): first and largest delay
    between reconnection attempts. ``max_queue`` (default 100000): commands waiting to be
    sent before ``publish_nowait`` raises :class:`RateLimited`.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        reconnect: bool = True,
        timeout: float = 30.0,
        backoff: tuple[float, float] = (0.1, 10.0),
        max_queue: int = 100_000,
    ) -> None:
        self._url, self._token = url, token
        self.reconnect, self.timeout, self.backoff, self.max_queue = (
            reconnect,
            timeout,
            backoff,
            max_queue,
        )
        self.state = State.IDLE
        self.endpoint: Endpoint | None = None
        self.error: BaseException | None = None  # why the client closed, once it has
        self._ids = itertools.count(1)
        self._outbox: deque[_Pending] = deque()
        self._inflight: dict[int, _Pending] = {}
        self._subs: dict[str, _Subscription] = {}
        self._channels: dict[str, AsyncChannel] = {}
        self._ws: ClientConnection | None = None
        self._wakeup: anyio.Event | None = None
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._tg: Any = None

    # -- lifecycle --

    async def __aenter__(self) -> AsyncClient:
        self._move(State.CONNECTING)
        self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()
        try:
            ws = await self._open()
        except BaseException as exc:
            self._shutdown(exc)
            raise
        self._ws = ws
        self._move(State.OPEN)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._run, ws)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; pending commands fail and subscriptions end."""
        self._shutdown(None)
        if self._ws is not None:
            with anyio.move_on_after(2, shield=True):
                await self._ws.close()
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)

    def _move(self, new: State) -> None:
        if new not in _NEXT[self.state]:
            expected = ", ".join(sorted(s.value for s in _NEXT[self.state])) or "nothing"
            raise RuntimeError(
                f"client is {self.state.value}: expected {expected}, got {new.value}"
            )
        self.state = new

    def _shutdown(self, error: BaseException | None) -> None:
        if self.state is State.CLOSED:
            return
        self._move(State.CLOSED)
        self.error = error or Unavailable("the client is closed")
        pending = [*self._inflight.values(), *self._outbox]
        self._inflight.clear()
        self._outbox.clear()
        for p in pending:
            p.settle(None, self.error)
        subs, self._subs = list(self._subs.values()), {}
        for sub in subs:
            sub.end(error)
        self._wake()

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` in the client's task group (ends with the client)."""
        if self._tg is None:
            raise self._not_open()
        self._tg.start_soon(fn, *args)

    def channel(self, name: str) -> AsyncChannel:
        """The channel ``name`` on this connection (one object per name)."""
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = AsyncChannel(self, name)
        return channel

    async def channels(self) -> list[dict[str, Any]]:
        """Every channel the server knows: ``{channel, subscribers, epoch, offset}`` each."""
        if self.endpoint is None:
            raise self._not_open()
        body = await anyio.to_thread.run_sync(self.endpoint.get_json, "realtime/api/channels")
        return list(body["channels"])

    # -- connecting --

    async def _open(self) -> ClientConnection:
        """Connect to the first endpoint that answers; a clear error when none does."""
        tried: list[str] = []
        found = candidates(self._url, self._token, tried)
        failures: list[tuple[Endpoint, Exception]] = []
        while endpoint := await anyio.to_thread.run_sync(next, found, None):
            try:
                ws = await ws_connect(
                    endpoint.ws(),
                    additional_headers=endpoint.headers,
                    compression=None,
                    max_size=None,
                    proxy=None if endpoint.loopback else True,
                    open_timeout=min(self.timeout, 10.0),
                )
            except Exception as exc:
                failures.append((endpoint, exc))
                continue
            self.endpoint = endpoint
            return ws
        if not failures:
            raise Unavailable(
                f"no Jupyter server found; tried {describe(tried)}. Pass url= and token= "
                "(--url/--token), or set JUPYTER_REALTIME_URL and JUPYTER_REALTIME_TOKEN."
            )
        raise _connect_error(failures)

    async def _run(self, ws: ClientConnection) -> None:
        attempt = 0
        while self.state is State.OPEN:
            started = anyio.current_time()
            code, reason = await self._serve(ws)
            if anyio.current_time() - started > self.backoff[1]:
                attempt = 0  # it was up for a while: start the backoff over
            if self.state is State.CLOSED:
                return
            self._lost(f"{code} {reason}".strip())
            if code >= 4500 or not self.reconnect:
                self._shutdown(_close_error(code, reason))
                return
            self._move(State.RECONNECTING)
            while True:
                low, high = self.backoff
                delay = min(high, low * 2**attempt)
                await anyio.sleep(random.uniform(delay / 2, delay))
                attempt = min(attempt + 1, 30)
                try:
                    ws = await self._open()
                except Exception as exc:
                    log.debug("reconnecting failed: %s", exc)
                    continue
                break
            if self.state is State.CLOSED:
                await ws.close()
                return
            self._ws = ws
            self._move(State.OPEN)

    async def _serve(self, ws: ClientConnection) -> tuple[int, str]:
        self._resubscribe()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._write_loop, ws)
            try:
                async for raw in ws:
                    try:
                        self._dispatch(raw)
                    except Exception:
                        log.warning("dropped a malformed frame %r", raw[:200], exc_info=True)
            except ConnectionClosed:
                pass
            tg.cancel_scope.cancel()
        return ws.close_code or 1006, ws.close_reason or ""

    def _lost(self, reason: str) -> None:
        inflight, self._inflight = self._inflight, {}
        if inflight:
            error = ConnectionLost(f"the connection to {self.endpoint} dropped ({reason})")
            for p in inflight.values():
                p.settle(None, error)

    # -- sending --

    async def _write_loop(self, ws: ClientConnection) -> None:
        outbox, inflight = self._outbox, self._inflight
        try:
            while True:
                if not outbox:
                    self._wakeup = anyio.Event()
                    if not outbox:
                        await self._wakeup.wait()
                    continue
                p = outbox.popleft()
                if p.cancelled:
                    continue
                inflight[p.id] = p
                await ws.send(p.frame)
        except ConnectionClosed:
            pass  # the reader sees the close too

    def _wake(self) -> None:
        if threading.get_ident() == self._thread:
            self._wake_now()
        elif not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._wake_now)

    def _wake_now(self) -> None:
        self._wake_pending = False
        if self._wakeup is not None:
            self._wakeup.set()

    def _not_open(self) -> BaseException:
        if self.state is State.CLOSED and self.error is not None:
            return self.error
        return Unavailable(f"the client is {self.state.value}; use it inside `async with`")

    def command(
        self, op: str, *, kind: str = "", callback: Any = None, front: bool = False, **fields: Any
    ) -> _Pending:
        """Queue a command (thread-safe); its reply settles the returned pending."""
        if self.state not in (State.OPEN, State.RECONNECTING):
            raise self._not_open()
        cid = next(self._ids)
        data = fields.pop("data", None)
        if isinstance(data, (bytes, bytearray, memoryview)):
            frame: str | bytes = pack_binary({"id": cid, "op": op, **fields}, bytes(data))
        else:
            if op == "publish":
                fields["data"] = data
            try:
                frame = orjson.dumps(
                    {"id": cid, "op": op, **fields}, option=orjson.OPT_SERIALIZE_NUMPY
                ).decode()
            except TypeError as exc:
                raise BadRequest(f"data is not JSON serializable: {exc}") from None
        if not front and len(self._outbox) >= self.max_queue:
            raise RateLimited(
                f"{len(self._outbox)} commands wait to be sent; await a publish or flush()"
            )
        p = _Pending(cid, frame, kind or op, callback)
        self._outbox.appendleft(p) if front else self._outbox.append(p)
        self._wake()
        return p

    async def request(
        self, op: str, *, timeout: float | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Send a command and wait for its result; a typed error if it failed."""
        return await self.wait(self.command(op, **fields), timeout)

    async def wait(self, p: _Pending, timeout: float | None = None) -> dict[str, Any]:
        """The result of a queued command (waiting at most ``timeout``, default the client's)."""
        limit = self.timeout if timeout is None else timeout
        if not p.done:
            p.event = anyio.Event()
            try:
                with anyio.move_on_after(limit):
                    await p.event.wait()
            finally:
                if not p.done:
                    p.cancelled = True
                    self._inflight.pop(p.id, None)
        if not p.done:
            raise Unavailable(f"no reply to {p.kind} within {limit} s (client {self.state.value})")
        if p.error is not None:
            raise p.error
        return p.result

    # -- receiving --

    def _dispatch(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            header, data = unpack_binary(raw)
            self._publication(Message.from_frame(header, data))
            return
        frame = orjson.loads(raw)
        if "id" in frame:
            p = self._inflight.pop(frame["id"], None)
            error = frame.get("error")
            if p is not None:
                p.settle(frame.get("result"), error and error_for(error["code"], error["message"]))
            elif error:
                log.warning("error from the server: %s", error)
        elif "offset" in frame and "channel" in frame:
            self._publication(Message.from_frame(frame))

    def _publication(self, msg: Message) -> None:
        sub = self._subs.get(msg.channel)
        if sub is not None:
            sub.deliver(msg)

    # -- subscriptions --

    async def listen(
        self,
        channel: str,
        listener: Listener,
        *,
        since: Position | None = None,
        presence: bool = False,
    ) -> None:
        """Add a listener to ``channel``, subscribing on the server if it is the first."""
        sub = self._subs.get(channel)
        if sub is None:
            sub = self._subs[channel] = _Subscription(channel, since, presence)
            self._subscribe(sub)
        elif since is not None:
            raise BadRequest(
                f"{channel!r} is already subscribed: since= applies to the first listener"
            )
        elif presence and not sub.presence:  # subscribe again, with presence, from where it is
            sub.presence, sub.confirmed = True, anyio.Event()
            self.command("unsubscribe", channel=channel, callback=_ignore)
            self._subscribe(sub)
        sub.listeners.append(listener)
        with anyio.move_on_after(self.timeout):
            await sub.confirmed.wait()
        if sub.error is not None:
            raise sub.error
        if not sub.confirmed.is_set():
            self.unlisten(channel, listener)
            raise Unavailable(f"no reply to subscribe {channel!r} within {self.timeout} s")

    def unlisten(self, channel: str, listener: Listener) -> None:
        """Remove a listener; the last one unsubscribes on the server."""
        sub = self._subs.get(channel)
        if sub is None or listener not in sub.listeners:
            return
        sub.listeners.remove(listener)
        _safely(listener.end, None)
        if not sub.listeners:
            del self._subs[channel]
            self.command("unsubscribe", channel=channel, callback=_ignore)

    def _subscribe(self, sub: _Subscription, front: bool = False) -> None:
        since = sub.position
        fields: dict[str, Any] = {"channel": sub.channel}
        if since is not None:
            fields["since"] = {"epoch": since.epoch, "offset": since.offset}
            sub.replay = []
        if sub.presence:
            fields["presence"] = True
        callback = functools.partial(self._subscribed, sub, since)
        self.command("subscribe", callback=callback, front=front, **fields)

    def _resubscribe(self) -> None:
        for p in self._outbox:
            if p.kind == "subscribe":
                p.cancelled = True  # queued while disconnected: sent again below
        for sub in reversed(list(self._subs.values())):
            self._subscribe(sub, front=True)

    def _subscribed(self, sub: _Subscription, since: Position | None, p: _Pending) -> None:
        if self._subs.get(sub.channel) is not sub or isinstance(p.error, ConnectionLost):
            return  # unsubscribed meanwhile, or sent again after the reconnection
        if p.error is not None:
            del self._subs[sub.channel]
            sub.end(p.error)
            return
        newest = Position(p.result["epoch"], p.result["offset"])
        recovered = since is None or p.result.get("recovered", True)
        sub.resumed(None if recovered else GapError(sub.channel, since, newest))
        pos = sub.position
        if pos is None or pos.epoch != newest.epoch or pos.offset < newest.offset:
            sub.position = newest
        sub.confirmed.set()


def _ignore(p: _Pending) -> None:
    pass


def _connect_error(failures: list[tuple[Endpoint, Exception]]) -> Exception:
    """One error for every endpoint that failed: its type when they agree, else unavailable."""
    errors = [_failure(endpoint, exc) for endpoint, exc in failures]
    if len(errors) == 1:
        return errors[0]
    kind = type(errors[0]) if len({type(e) for e in errors}) == 1 else Unavailable
    return kind("; ".join(e.message for e in errors))


def _failure(
    endpoint: Endpoint, exc: Exception
) -> Unauthorized | Forbidden | NotFound | Unavailable:
    status = exc.response.status_code if isinstance(exc, InvalidStatus) else 0
    if status == 401:
        return Unauthorized(f"{endpoint} asks for credentials: pass token=")
    if status == 403:
        return Forbidden(f"{endpoint} refused the token (403)")
    if status == 404:
        return NotFound(f"{endpoint.ws()} answered 404: is the jupyter_realtime extension enabled?")
    return Unavailable(f"cannot connect to {endpoint}: {exc or type(exc).__name__}")


def _close_error(code: int, reason: str) -> Exception:
    message = f"the server closed the connection ({code} {reason})".replace(" )", ")")
    if reason == "transport_disabled":
        return NotFound(message)
    if code >= 4500:
        return Forbidden(message)
    return ConnectionLost(message)
