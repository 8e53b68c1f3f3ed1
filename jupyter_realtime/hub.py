"""The hub: subscriptions, fan-out, presence and recovery, written once for every transport.

Public names: :class:`Hub`, :class:`Subscriber`, :class:`SubscribeResult`.

The hub knows nothing of Tornado or of a concrete broker: it is the broker's event handler
(``on_publication``, ``on_join``, ``on_leave``) and serves sessions through the
:class:`Subscriber` protocol. Fan-out is one loop over prepared callables per channel; a
subscriber that raises is logged and dropped, never the loop.

Recovery (``subscribe`` with ``since``) registers the subscriber first, buffering live
publications, then reads the history after ``since``, delivers it, and then the buffered
publications newer than the last one delivered: no gap and no duplicate, whatever the
broker's latency. The replay is read and delivered a page at a time, waiting for the
subscriber's outbox to drain, so it may be larger than the outbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .brokers.base import Broker, ChannelInfo, Duplicate
from .errors import ErrorCode, RealtimeError
from .protocol import Position, Publication, gap_event, subscribed_event
from .replay import HistoryPage, Serial, history_page, replay

__all__ = ["HistoryPage", "Hub", "PublishRoute", "SubscribeResult", "Subscriber"]

log = logging.getLogger("jupyter_realtime.hub")

Deliver = Callable[[Publication], None]


def _cancelled(channel: str) -> RealtimeError:
    return RealtimeError(ErrorCode.BAD_REQUEST, f"subscription to {channel!r} was cancelled")


class Subscriber(Protocol):
    """What the hub needs from a connection (a :class:`~jupyter_realtime.session.Session`)."""

    id: str

    def deliver(self, pub: Publication) -> None:
        """Queue a publication; never blocks. May close the subscriber (slow consumer)."""

    def send_event(self, frame: dict[str, Any]) -> None:
        """Queue an event frame (join, leave, gap)."""

    def fail(self, exc: BaseException) -> None:
        """Close after an unexpected error raised while delivering to it."""

    async def wait_writable(self) -> None:
        """Return once the outbox has room for more of a replay: at once while it holds
        little, or when it is closed."""


class PublishRoute(Protocol):
    """A service that takes some publications over before they are stored (the documents
    service: a Yjs update is applied to the server's document, and what changed is published
    in its stead through :meth:`Hub.relay`). ``claims`` is cheap and synchronous."""

    def claims(self, channel: str, payload: bytes, binary: bool) -> bool: ...

    async def publish(
        self,
        channel: str,
        payload: bytes,
        *,
        sender: str | None,
        idempotency_key: str | None,
        sender_name: str | None = None,
    ) -> Publication: ...


@dataclass
class SubscribeResult:
    """Where a new subscription starts, and whether its replay reached back to ``since``.

    ``announced``: the transport carried the outcome on its stream (see
    ``Transport.announce``), set by the session."""

    position: Position
    recovered: bool
    announced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.position.epoch,
            "offset": self.position.offset,
            "recovered": self.recovered,
        }

    def events(self, channel: str) -> list[dict[str, Any]]:
        """How a stream announces this result after the replay: a ``gap`` when recovery
        fell short, then ``subscribed`` with the position the stream is now at."""
        frames = [] if self.recovered else [gap_event(channel, self.position)]
        frames.append(subscribed_event(channel, self.position, self.recovered))
        return frames


class Hub:
    """Channels of one server, on top of a :class:`Broker`.

    ``max_message_size``: bytes of one publication's data (``too_large`` above it).
    ``max_recover``: publications replayed at most on one resume; a longer gap is
    reported as ``recovered: false`` (and only the newest ``max_recover`` are replayed).
    ``page_bytes``: bytes of publications in one ``history`` answer (about, as text
    frames); the app makes it a quarter of ``outbox_limit`` so that an answer always fits.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        max_message_size: int = 1 << 20,
        max_recover: int = 10_000,
        page_bytes: int = 1 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.broker = broker
        self.max_message_size = max_message_size
        self.max_recover = max_recover
        self.page_bytes = page_bytes
        self.clock = clock
        # channel -> subscriber id -> deliver callable (live) or buffer (recovering)
        self._live: dict[str, dict[str, Deliver]] = {}
        self._recovering: dict[str, dict[str, list[Publication]]] = {}
        self._subscribers: dict[str, dict[str, Subscriber]] = {}
        self._present: dict[str, set[str]] = {}
        # presence calls of one client run one after the other: a leave that overtook its
        # join (a broker may use two connections) would leave the join there for good
        self._presence_ops = Serial()
        self._published: list[Callable[[Publication], None]] = []
        self.route: PublishRoute | None = None
        broker.set_handler(self)

    async def start(self) -> None:
        await self.broker.start()

    async def close(self) -> None:
        await self.broker.close()

    # -- broker events --

    def on_publication(self, pub: Publication) -> None:
        live = self._live.get(pub.channel)
        if live:
            for sid, deliver in list(live.items()):
                try:
                    deliver(pub)
                except Exception as exc:  # a bug in one session must not stop the others
                    self._fail(pub.channel, sid, exc)
        recovering = self._recovering.get(pub.channel)
        if recovering:
            for buffer in recovering.values():
                buffer.append(pub)

    def on_join(self, channel: str, info: dict[str, Any]) -> None:
        self._broadcast_event(channel, {"event": "join", "channel": channel, "client": info})

    def on_leave(self, channel: str, info: dict[str, Any]) -> None:
        self._broadcast_event(channel, {"event": "leave", "channel": channel, "client": info})

    def on_gap(self, channel: str, position: Position) -> None:
        """The broker lost publications of a channel it was delivering (for example Redis
        lost its data): tell the subscribers, who cannot know otherwise."""
        self._broadcast_event(channel, gap_event(channel, position))

    def _broadcast_event(self, channel: str, frame: dict[str, Any]) -> None:
        for sid, sub in list(self._subscribers.get(channel, {}).items()):
            try:
                sub.send_event(frame)
            except Exception as exc:
                self._fail(channel, sid, exc)

    def _fail(self, channel: str, sid: str, exc: BaseException) -> None:
        log.exception("delivery to %s on %s failed", sid, channel, exc_info=exc)
        sub = self._subscribers.get(channel, {}).get(sid)
        if sub is not None:
            self._forget(channel, sid)
            sub.fail(exc)

    # -- subscriptions --

    def is_subscribed(self, subscriber: Subscriber, channel: str) -> bool:
        return subscriber.id in self._subscribers.get(channel, ())

    def subscriber_count(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))

    async def subscribe(
        self,
        subscriber: Subscriber,
        channel: str,
        *,
        since: Position | None = None,
        presence: dict[str, Any] | None = None,
    ) -> SubscribeResult:
        """Subscribe and, with ``since``, first replay what came after it.

        Every publication after ``since`` (or after the returned position, without it)
        reaches the subscriber exactly once and in order, unless ``recovered`` is False.
        All or nothing: when it raises, the subscriber is neither subscribed nor present.
        """
        await self.register(subscriber, channel)
        return await self.recover(subscriber, channel, since=since, presence=presence)

    async def register(self, subscriber: Subscriber, channel: str) -> None:
        """The first half of :meth:`subscribe`: from now on every publication of ``channel``
        is kept for the subscriber, to be delivered by :meth:`recover`. A stream registers
        all its channels before its first byte, then recovers them one by one."""
        sid = subscriber.id
        if sid in self._subscribers.get(channel, ()):
            raise RealtimeError(ErrorCode.BAD_REQUEST, f"already subscribed to {channel!r}")
        first = channel not in self._subscribers
        self._subscribers.setdefault(channel, {})[sid] = subscriber
        self._recovering.setdefault(channel, {})[sid] = []
        if first:
            try:
                await self.broker.subscribe(channel)
            except BaseException:
                await self.cancel(subscriber, channel)
                raise

    async def recover(
        self,
        subscriber: Subscriber,
        channel: str,
        *,
        since: Position | None = None,
        presence: dict[str, Any] | None = None,
    ) -> SubscribeResult:
        """The second half of :meth:`subscribe`: replay, go live, join the presence.

        The replay is paced: after each publication it waits for the subscriber's outbox
        to have room (:meth:`Subscriber.wait_writable`), so a replay larger than any
        outbox gets through; live publications are kept meanwhile.
        """
        sid = subscriber.id
        buffer = self._recovering.get(channel, {}).get(sid)
        if buffer is None:
            raise RealtimeError(ErrorCode.BAD_REQUEST, f"not registered on {channel!r}")
        try:
            position, recovered, last = await replay(
                self.broker, channel, since, subscriber, max_recover=self.max_recover,
                check=lambda: self._check_registered(channel, sid, buffer),
            )
            self._check_registered(channel, sid, buffer)  # it may have closed meanwhile
            deliver = subscriber.deliver
            for pub in buffer:
                if pub.epoch != position.epoch or pub.offset > last:
                    deliver(pub)
                    last = pub.offset
                    position = pub.position
            del self._recovering[channel][sid]
            if not self._recovering[channel]:
                del self._recovering[channel]
            self._live.setdefault(channel, {})[sid] = deliver
            if position.offset < last:
                position = Position(position.epoch, last)
            if presence is not None:
                self._present.setdefault(channel, set()).add(sid)
                await self._presence_ops.run(
                    (channel, sid), lambda: self.broker.add_presence(channel, sid, presence)
                )
                if sid not in self._live.get(channel, ()):
                    raise _cancelled(channel)
        except BaseException:
            await self.cancel(subscriber, channel)
            raise
        return SubscribeResult(position, recovered)

    def _check_registered(self, channel: str, sid: str, buffer: list[Any]) -> None:
        if self._recovering.get(channel, {}).get(sid) is not buffer:
            raise _cancelled(channel)  # unsubscribed or closed while the broker answered

    async def cancel(self, subscriber: Subscriber, channel: str) -> None:
        """Undo a subscription, whatever step it reached (no-op when there is none)."""
        if self._forget(channel, subscriber.id):
            try:
                await self._after_leave(channel, subscriber.id)
            except Exception:
                log.warning("cleaning up %s on %s failed", subscriber.id, channel, exc_info=True)

    def _forget(self, channel: str, sid: str) -> bool:
        """Remove a subscriber locally; True if it was subscribed."""
        found = False
        for table in (self._live, self._recovering, self._subscribers):
            entries = table.get(channel)
            if entries is not None and sid in entries:
                found = True
                del entries[sid]
                if not entries:
                    del table[channel]
        return found

    async def unsubscribe(self, subscriber: Subscriber, channel: str) -> None:
        sid = subscriber.id
        if not self._forget(channel, sid):
            raise RealtimeError(ErrorCode.BAD_REQUEST, f"not subscribed to {channel!r}")
        await self._after_leave(channel, sid)

    async def _after_leave(self, channel: str, sid: str) -> None:
        present = self._present.get(channel)
        if present is not None and sid in present:
            present.discard(sid)
            if not present:
                del self._present[channel]
            await self._presence_ops.run(
                (channel, sid), lambda: self.broker.remove_presence(channel, sid)
            )
        if channel not in self._subscribers:
            await self.broker.unsubscribe(channel)

    async def drop(self, subscriber: Subscriber, channels: list[str]) -> None:
        """Forget a closed subscriber on every channel; errors are logged, not raised."""
        for channel in channels:
            await self.cancel(subscriber, channel)

    # -- commands that need no subscription --

    def check_size(self, size: int) -> None:
        """Raise ``too_large`` for data above ``max_message_size``."""
        if size > self.max_message_size:
            raise RealtimeError(
                ErrorCode.TOO_LARGE,
                f"publication of {size} bytes exceeds the limit of "
                f"{self.max_message_size} bytes",
            )

    async def add_usage(self, key: str, amount: int, limit: int, window: float) -> int | None:
        """A usage counter of the broker (``Broker.add_usage``): shared by every server of
        a shared broker, so a per-user limit counted here holds across them."""
        return await self.broker.add_usage(key, amount, limit, window)

    async def publish(
        self,
        channel: str,
        payload: bytes,
        *,
        binary: bool = False,
        sender: str | None = None,
        idempotency_key: str | None = None,
        sender_name: str | None = None,
        key: str | None = None,
    ) -> Publication:
        """Store and deliver; a :class:`~.brokers.base.Duplicate` (nothing stored) when the
        channel knows ``idempotency_key``. ``sender`` and ``sender_name`` are the identity
        the caller verified, never anything the client sent. With a ``key``, the channel also
        keeps it as the latest publication of that key (beyond its history). A publication
        that :attr:`route` claims is handed to it instead (it may refuse it, or publish
        something else through :meth:`relay`)."""
        self.check_size(len(payload))
        route = self.route
        if route is not None and key is None and route.claims(channel, payload, binary):
            return await route.publish(
                channel, payload, sender=sender, idempotency_key=idempotency_key,
                sender_name=sender_name,
            )
        return await self.relay(
            channel, payload, binary=binary, sender=sender, idempotency_key=idempotency_key,
            sender_name=sender_name, key=key,
        )

    async def relay(
        self,
        channel: str,
        payload: bytes,
        *,
        binary: bool = False,
        sender: str | None = None,
        idempotency_key: str | None = None,
        sender_name: str | None = None,
        key: str | None = None,
    ) -> Publication:
        """Store and deliver without asking :attr:`route` (what the route itself publishes)."""
        options: dict[str, Any] = {"idempotency_key": idempotency_key, "sender_name": sender_name}
        if key is not None:  # brokers written before keys still serve unkeyed publishes
            options["key"] = key
        pub = await self.broker.publish(
            channel, payload, binary=binary, sender=sender, ts=self.clock(), **options
        )
        if not isinstance(pub, Duplicate):
            for listener in self._published:
                try:
                    listener(pub)
                except Exception:
                    log.exception("a listener of publications on %s failed", channel)
        return pub

    def on_published(self, listener: Callable[[Publication], None]) -> None:
        """Call ``listener(pub)`` for every publication this server accepts, once it is
        stored (never for a duplicate). It must not block; an exception is logged. The
        documents service learns from it which channels carry documents, so that it
        follows a document from its first update, not from its first reader."""
        self._published.append(listener)

    async def history(
        self,
        channel: str,
        *,
        since: Position | None = None,
        limit: int | None = None,
        key: str | None = None,
        key_prefix: str | None = None,
    ) -> HistoryPage:
        """As the broker's history, cut to ``page_bytes`` (at least one publication);
        ``more`` says it was cut: the rest follows ``since`` the last one. With ``key``: the
        latest publication of that key (none if the channel has none), whatever ``since``;
        with ``key_prefix``: the latest of each key starting with it (the newest ``limit``)."""
        if key is not None:
            result = await self.broker.latest(channel, key)
            return history_page(result, self.page_bytes)
        if key_prefix is not None:
            result = await self.broker.latest_by_prefix(channel, key_prefix, limit)
            return history_page(result, self.page_bytes)
        result = await self.broker.history(channel, since=since, limit=limit)
        return history_page(result, self.page_bytes)

    async def position(self, channel: str) -> Position:
        """The channel's epoch and newest offset."""
        return await self.broker.position(channel)

    async def presence(self, channel: str) -> list[dict[str, Any]]:
        return await self.broker.presence(channel)

    async def channels(self) -> list[ChannelInfo]:
        infos = await self.broker.channels()
        known = {info.channel for info in infos}
        for channel in self._subscribers:
            if channel not in known:
                infos.append(ChannelInfo(channel, await self.position(channel)))
        for info in infos:
            info.subscribers = self.subscriber_count(info.channel)
        return sorted(infos, key=lambda info: info.channel)
