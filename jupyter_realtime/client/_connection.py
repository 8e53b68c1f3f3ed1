"""The async client: one WebSocket to ``realtime/ws``, its state, and reconnection.

Public names: :class:`AsyncClient`, :class:`State`.

One implementation on anyio (the WebSocket is the ``websockets`` library's asyncio client).
Commands go through the :class:`~._outbox.Outbox` (pipelined, thread-safe to fill);
subscriptions are :class:`~._subscription.ServerSubscription` objects shared by local
listeners. When the connection drops (anything but a terminal close code 4500-4999), the
client reconnects with exponential backoff and jitter, looks for the server again
(``_discovery``), and resubscribes every channel with ``since`` set to the last position it
delivered, so nothing is lost or repeated; when the server cannot reach back that far
(``recovered: false``) the channel's listeners get a :class:`GapError`. Commands sent
before a drop whose reply never came fail with :class:`ConnectionLost`; commands not yet
sent wait for the next connection (up to ``timeout``).
"""

from __future__ import annotations

import enum
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from ..protocol import Position, unpack_binary
from ._channel import AsyncChannel
from ._discovery import Endpoint, candidates, describe
from ._errors import BadRequest, ConnectionLost, GapError, Unavailable, close_error
from ._message import Message
from ._outbox import Outbox, Pending
from ._probe import explain
from ._subscription import Listener, ServerSubscription

__all__ = ["AsyncClient", "State"]

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
        self.reconnect, self.timeout, self.backoff = reconnect, timeout, backoff
        self.state = State.IDLE
        self.endpoint: Endpoint | None = None
        self.error: BaseException | None = None  # why the client closed, once it has
        self._outbox = Outbox(max_queue)
        self._subs: dict[str, ServerSubscription] = {}
        self._channels: dict[str, AsyncChannel] = {}
        self._ws: ClientConnection | None = None
        self._tg: Any = None

    # -- lifecycle --

    async def __aenter__(self) -> AsyncClient:
        self._move(State.CONNECTING)
        self._outbox.bind()
        try:
            self._ws = await self._open()
        except BaseException as exc:
            self._shutdown(exc)
            raise
        self._move(State.OPEN)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._run, self._ws)
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
        self._outbox.fail_all(self.error)
        subs, self._subs = list(self._subs.values()), {}
        for sub in subs:
            sub.end(error)

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
        if failures:
            raise await anyio.to_thread.run_sync(explain, failures)
        raise Unavailable(
            f"no Jupyter server found; tried {describe(tried)}. Pass url= and token= "
            "(--url/--token), or set JUPYTER_REALTIME_URL and JUPYTER_REALTIME_TOKEN."
        )

    def _closed(self) -> bool:
        # a method, not an inline test: the state changes across the awaits of _run, which
        # a type checker narrowing ``self.state`` cannot see
        return self.state is State.CLOSED

    async def _run(self, ws: ClientConnection) -> None:
        attempt = 0
        while self.state is State.OPEN:
            started = anyio.current_time()
            code, reason = await self._serve(ws)
            if self._closed():
                return
            if anyio.current_time() - started > self.backoff[1]:
                attempt = 0  # it was up for a while: start the backoff over
            self._outbox.lost(ConnectionLost(f"the connection to {self.endpoint} dropped ({code})"))
            if code >= 4500 or not self.reconnect:
                self._shutdown(close_error(code, reason))
                return
            self._move(State.RECONNECTING)
            while True:
                delay = min(self.backoff[1], self.backoff[0] * 2**attempt)
                await anyio.sleep(random.uniform(delay / 2, delay))
                attempt = min(attempt + 1, 30)
                try:
                    ws = await self._open()
                    break
                except Exception as exc:
                    log.debug("reconnecting failed: %s", exc)
            if self._closed():
                await ws.close()
                return
            self._ws = ws
            self._move(State.OPEN)

    async def _serve(self, ws: ClientConnection) -> tuple[int, str]:
        self._resubscribe()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._outbox.drain, ws)
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

    def _dispatch(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            header, data = unpack_binary(raw)
            msg = Message.from_frame(header, data)
        else:
            frame = orjson.loads(raw)
            if "id" in frame:
                if not self._outbox.reply(frame) and frame.get("error"):
                    log.warning("error from the server: %s", frame["error"])
                return
            event = frame.get("event")
            if event is not None:
                sub = self._subs.get(frame.get("channel", ""))
                if event == "gap" and sub is not None:
                    sub.lost(Position(frame["epoch"], frame["offset"]))
                return  # presence join/leave are not surfaced yet
            msg = Message.from_frame(frame)
        sub = self._subs.get(msg.channel)
        if sub is not None:
            sub.deliver(msg)

    # -- commands --

    def _not_open(self) -> BaseException:
        if self.state is State.CLOSED and self.error is not None:
            return self.error
        return Unavailable(f"the client is {self.state.value}; use it inside `async with`")

    def command(
        self, op: str, *, kind: str = "", callback: Any = None, front: bool = False, **fields: Any
    ) -> Pending:
        """Queue a command (thread-safe); its reply settles the returned pending."""
        if self.state not in (State.OPEN, State.RECONNECTING):
            raise self._not_open()
        return self._outbox.put(op, kind, callback, front, fields)

    async def request(
        self, op: str, *, timeout: float | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Send a command and wait for its result; a typed error if it failed."""
        return await self.wait(self.command(op, **fields), timeout)

    async def wait(self, p: Pending, timeout: float | None = None) -> dict[str, Any]:
        """The result of a queued command (waiting at most ``timeout``, default the client's)."""
        limit = self.timeout if timeout is None else timeout
        return await self._outbox.wait(p, limit, self.state.value)

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
            sub = self._subs[channel] = ServerSubscription(channel, since, presence)
            self._subscribe(sub)
        elif since is not None:
            raise BadRequest(f"{channel!r} is already subscribed: since= is for the first listener")
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
        listener.end(None)
        if not sub.listeners:
            del self._subs[channel]
            self.command("unsubscribe", channel=channel, callback=_ignore)

    def _subscribe(self, sub: ServerSubscription, front: bool = False) -> None:
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
        self._outbox.cancel("subscribe")  # queued while disconnected: sent again below
        for sub in reversed(list(self._subs.values())):
            self._subscribe(sub, front=True)

    def _subscribed(self, sub: ServerSubscription, since: Position | None, p: Pending) -> None:
        if self._subs.get(sub.channel) is not sub or isinstance(p.error, ConnectionLost):
            return  # unsubscribed meanwhile, or sent again after the reconnection
        if p.error is not None:
            del self._subs[sub.channel]
            sub.end(p.error)
            return
        newest = Position(p.result["epoch"], p.result["offset"])
        recovered = since is None or p.result.get("recovered", True)
        sub.confirm(newest, None if recovered else GapError(sub.channel, since, newest))


def _ignore(p: Pending) -> None:
    pass
