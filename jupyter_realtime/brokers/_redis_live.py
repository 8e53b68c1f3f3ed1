"""The Redis broker's live delivery: one pub/sub connection per server, kept alive.

Private to :mod:`jupyter_realtime.brokers.redis`. The connection is subscribed to the
channels this server has subscribers for. Pub/sub is at-most-once, so each channel's
:class:`~.feed.Feed` keeps the last offset it delivered: a publication that is not the
next one is preceded by the missing ones, read from the stream; older ones are dropped.
After a reconnect every feed catches up from the stream. The hub thus sees each offset
once and in order.

**Liveness.** A TCP connection can die without a FIN (a NAT or proxy forgets it, a host
vanishes): reads then block forever and delivery stops without an error. After
``ping_interval`` seconds without a message the connection is PINGed; if nothing at all
arrives within as long again it is closed and replaced, and the feeds catch up from the
streams (so nothing is lost and nothing repeated). TCP keepalive is on as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

import orjson
from redis.exceptions import RedisError

from ..errors import ErrorCode, RealtimeError
from ..protocol import Position, Publication
from . import _redis_scripts as lua
from ._redis_core import READY_TIMEOUT, RedisCore, let_finish, redact
from .feed import Feed

__all__ = ["RedisLive"]

log = logging.getLogger("jupyter_realtime.brokers.redis")

BACKOFF_MIN, BACKOFF_MAX = 0.05, 5.0  # seconds between reconnection attempts
PING_MESSAGE = b"jupyter_realtime:alive?"


class RedisLive(RedisCore):
    async def subscribe(self, channel: str) -> None:
        """Live once Redis confirmed the subscription; while the pub/sub connection is
        being re-established, waits for it (at most ``READY_TIMEOUT``). An unknown channel
        gets its epoch here (a subscription is not a read: the channel now exists)."""
        feed = self._feeds.get(channel)
        if feed is None:
            keys = [
                self._key(channel, kind) for kind in ("meta", "history", "latest", "latest_order")
            ]
            ttl_ms = int(self.meta_ttl * 1000)
            await self._idempotent(self._open, keys, [secrets.token_hex(4), ttl_ms])
            feed = self._feeds.get(channel)
        if feed is None:
            feed = self._feeds[channel] = Feed(channel, self._deliver, self._gap)
            await self._listen_to(channel)
        try:
            await feed.wait_ready(READY_TIMEOUT)
        except RealtimeError as exc:
            self._drop_feed(channel, feed)
            raise self._unavailable(exc) from exc

    async def unsubscribe(self, channel: str) -> None:
        feed = self._feeds.pop(channel, None)
        if feed is None:
            return
        feed.cancel(RealtimeError(ErrorCode.UNAVAILABLE, f"unsubscribed from {channel!r}"))
        await self._stop_listening(channel)

    async def _listen_to(self, channel: str) -> None:
        """Subscribe the live connection to a new feed's channel (if it is up: else the
        reconnection subscribes every feed)."""
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.subscribe(self._topic(channel))

    async def _stop_listening(self, channel: str) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, ConnectionError):
                await self._pubsub.unsubscribe(self._topic(channel))

    def _drop_feed(self, channel: str, feed: Feed) -> None:
        if self._feeds.get(channel) is feed and not feed.synced:
            del self._feeds[channel]

    def _deliver(self, pub: Publication) -> None:
        if self.handler is not None:
            try:
                self.handler.on_publication(pub)
            except Exception:
                log.exception("delivering %r failed", pub)

    def _gap(self, channel: str, position: Position) -> None:
        log.warning("live delivery of %s could not be gap-free: resumed at %s", channel, position)
        if self.handler is not None:
            self.handler.on_gap(channel, position)

    async def _listen(self) -> None:
        """The pub/sub connection: reconnect with backoff, then catch up every feed."""
        delay = BACKOFF_MIN
        lost_since: float | None = None
        while True:
            pubsub = self._redis.pubsub()
            try:
                channels = set(self._feeds)
                topics = [self._topic(c) for c in channels]
                await pubsub.subscribe(self._node_key(self.node), *topics)
                self._pubsub, self.connected = pubsub, True
                self._up.set()
                if late := set(self._feeds) - channels:  # added while connecting
                    await pubsub.subscribe(*(self._topic(c) for c in late))
                if lost_since is not None:
                    log.warning("reconnected to Redis at %s", redact(self.url))
                    lost_since = None
                while True:
                    message = await self._next_message(pubsub)
                    if message["type"] != "pong":
                        await self._on_message(message)
                        delay = BACKOFF_MIN
            except Exception as exc:  # RedisError, OSError, RealtimeError; or a bug: log it
                if not isinstance(exc, (RedisError, OSError, RealtimeError)):
                    log.exception("live delivery from Redis failed; reconnecting")
                self._pubsub, self.connected = None, False
                if lost_since is None:
                    lost_since = time.monotonic()
                    log.warning("lost Redis at %s (%s); reconnecting", redact(self.url), exc)
            finally:
                self._pubsub, self.connected = None, False
                self._up.clear()
                await let_finish(pubsub.aclose(), 1.0)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _next_message(self, pubsub: Any) -> dict[str, Any]:
        """The next message (a PING's answer included); ``ConnectionError`` when the
        connection stays silent ``ping_interval`` after a PING."""
        interval = self.ping_interval
        if interval <= 0:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None:
                    return message  # type: ignore[no-any-return]
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=interval)
            if message is not None:
                return message  # type: ignore[no-any-return]
            if pinged:
                raise ConnectionError(f"no answer from Redis to a PING within {interval:g} s")
            try:
                await asyncio.wait_for(pubsub.ping(PING_MESSAGE), interval)
            except asyncio.TimeoutError:
                raise ConnectionError("cannot send a PING to Redis") from None
            pinged = True

    async def _on_message(self, message: dict[str, Any]) -> None:
        topic: bytes = message["channel"]
        prefix = len(self.prefix) + 2
        feed = self._feeds.get(topic[prefix:-1].decode())
        if feed is None:
            return
        kind, data = message["type"], message["data"]
        if isinstance(kind, bytes):
            kind = kind.decode()
        if kind in ("subscribe", "ssubscribe"):
            await self._catch_up(feed)
        elif kind == "sunsubscribe":  # not ours (the feed is there): its slot moved
            raise ConnectionError(f"Redis moved the shard of {feed.channel!r}")
        elif kind == "unsubscribe":
            return
        elif not feed.synced:
            return
        elif data[:1] == b"p":
            epoch, offset, blob = data[1:].split(b" ", 2)
            pub = lua.decode_blob(feed.channel, epoch.decode(), int(offset), blob)
            if not feed.apply(pub.epoch, [pub], strict=True):
                async with feed.lock:
                    await self._catch_up(feed, locked=True, also=pub)
        elif self.handler is not None:
            info = orjson.loads(data[1:])
            on_event = self.handler.on_join if data[:1] == b"j" else self.handler.on_leave
            try:
                on_event(feed.channel, info)
            except Exception:
                log.exception("presence event on %s failed", feed.channel)

    async def _catch_up(
        self, feed: Feed, locked: bool = False, also: Publication | None = None
    ) -> None:
        """Take the position of a new feed, or fill an old one up to the newest offset
        (with ``also``, a publication in hand that the history may no longer hold)."""
        if not feed.synced:
            epoch, offset, _, _ = await self._read(feed.channel, "pos")
            feed.start(Position(epoch, offset))
            return
        if not locked:
            async with feed.lock:
                return await self._catch_up(feed, locked=True, also=also)
        if also is not None and feed.apply(also.epoch, [also], strict=True):
            return  # filled meanwhile by another read
        epoch, newest, pubs, _ = await self._read(feed.channel, "after", feed.position)
        if also is not None and also.epoch == epoch:
            pubs = sorted({p.offset: p for p in [also, *pubs]}.values(), key=_offset)
        feed.apply(epoch, pubs, newest)


def _offset(pub: Publication) -> int:
    return pub.offset
