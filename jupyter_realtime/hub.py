"""The hub: subscriptions, fan-out, presence and recovery, written once for every transport.

Public names: :class:`Hub`, :class:`Subscriber`, :class:`SubscribeResult`.

The hub knows nothing of Tornado or of a concrete broker: it is the broker's event handler
(``on_publication``, ``on_join``, ``on_leave``) and serves sessions through the
:class:`Subscriber` protocol. Fan-out is one loop over prepared callables per channel; a
subscriber that raises is logged and dropped, never the loop.

Recovery (``subscribe`` with ``since``) registers the subscriber first, buffering live
publications, then reads the history after ``since``, delivers it, and then the buffered
publications newer than the last one delivered: no gap and no duplicate, whatever the
broker's latency.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .brokers.base import Broker, ChannelInfo, HistoryResult
from .errors import ErrorCode, RealtimeError
from .protocol import Position, Publication, gap_event, subscribed_event

__all__ = ["Hub", "SubscribeResult", "Subscriber"]

log = logging.getLogger("jupyter_realtime.hub")

Deliver = Callable[[Publication], None]


class Subscriber(Protocol):
    """What the hub needs from a connection (a :class:`~jupyter_realtime.session.Session`)."""

    id: str

    def deliver(self, pub: Publication) -> None:
        """Queue a publication; never blocks. May close the subscriber (slow consumer)."""

    def send_event(self, frame: dict[str, Any]) -> None:
        """Queue an event frame (join, leave, gap)."""

    def fail(self, exc: BaseException) -> None:
        """Close after an unexpected error raised while delivering to it."""


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
    reported as ``recovered: false``.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        max_message_size: int = 1 << 20,
        max_recover: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.broker = broker
        self.max_message_size = max_message_size
        self.max_recover = max_recover
        self.clock = clock
        # channel -> subscriber id -> deliver callable (live) or buffer (recovering)
        self._live: dict[str, dict[str, Deliver]] = {}
        self._recovering: dict[str, dict[str, list[Publication]]] = {}
        self._subscribers: dict[str, dict[str, Subscriber]] = {}
        self._present: dict[str, set[str]] = {}
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
        """
        sid = subscriber.id
        if sid in self._subscribers.get(channel, ()):
            raise RealtimeError(ErrorCode.BAD_REQUEST, f"already subscribed to {channel!r}")
        first = channel not in self._subscribers
        self._subscribers.setdefault(channel, {})[sid] = subscriber
        buffer: list[Publication] = []
        self._recovering.setdefault(channel, {})[sid] = buffer
        try:
            if first:
                await self.broker.subscribe(channel)
            if since is None:
                result = HistoryResult([], await self.broker.position(channel))
            else:
                result = await self.broker.history(channel, since=since, limit=self.max_recover)
                if len(result.publications) >= self.max_recover:
                    result.recovered = False
        except BaseException:
            self._forget(channel, sid)
            if channel not in self._subscribers:
                try:
                    await self.broker.unsubscribe(channel)
                except Exception:
                    log.warning("releasing %s after a failed subscribe failed", channel,
                                exc_info=True)
            raise
        if self._recovering.get(channel, {}).get(sid) is not buffer:
            # unsubscribed (or closed) while the broker answered
            raise RealtimeError(ErrorCode.BAD_REQUEST, f"subscription to {channel!r} was cancelled")
        position = result.position
        last = since.offset if since is not None and since.epoch == position.epoch else 0
        deliver = subscriber.deliver
        for pub in result.publications:
            deliver(pub)
            if pub.epoch == position.epoch:
                last = max(last, pub.offset)
        if since is None:
            last = position.offset
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
            await self.broker.add_presence(channel, sid, presence)
        return SubscribeResult(position, result.recovered)

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
            await self.broker.remove_presence(channel, sid)
        if channel not in self._subscribers:
            await self.broker.unsubscribe(channel)

    async def drop(self, subscriber: Subscriber, channels: list[str]) -> None:
        """Forget a closed subscriber on every channel; errors are logged, not raised."""
        for channel in channels:
            self._forget(channel, subscriber.id)
            try:
                await self._after_leave(channel, subscriber.id)
            except Exception:
                log.warning("cleaning up %s on %s failed", subscriber.id, channel, exc_info=True)

    # -- commands that need no subscription --

    async def publish(
        self, channel: str, payload: bytes, *, binary: bool = False, sender: str | None = None
    ) -> Publication:
        if len(payload) > self.max_message_size:
            raise RealtimeError(
                ErrorCode.TOO_LARGE,
                f"publication of {len(payload)} bytes exceeds the limit of "
                f"{self.max_message_size} bytes",
            )
        return await self.broker.publish(
            channel, payload, binary=binary, sender=sender, ts=self.clock()
        )

    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        return await self.broker.history(channel, since=since, limit=limit)

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
