"""The Redis broker's store: publish, history, positions and the channel list.

Private to :mod:`jupyter_realtime.brokers.redis`. A publish is one ``EVALSHA``: the script
increments the offset, appends to the channel's stream and publishes on its pub/sub
channel, so a publication is stored before anyone sees it. With an idempotency key the same
script first looks the key up (a known key stores nothing) and then remembers it, so two
servers racing with one key store it once; and such a publish is safe to send again when
the connection drops. Reads create nothing (a
channel without a meta key is before its start); ``recovered`` is :mod:`.recovery`'s rule.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from redis.exceptions import RedisError

from ..protocol import Position, Publication
from . import _redis_scripts as lua
from . import recovery
from ._redis_core import READY_TIMEOUT, RedisCore
from .base import ChannelInfo, Duplicate, HistoryResult

__all__ = ["RedisStore"]


class RedisStore(RedisCore):
    async def publish(
        self,
        channel: str,
        payload: bytes,
        *,
        binary: bool,
        sender: str | None,
        ts: float,
        idempotency_key: str | None = None,
        sender_name: str | None = None,
        key: str | None = None,
    ) -> Publication:
        blob = lua.encode_blob(
            payload, binary=binary, sender=sender, ts=ts, sender_name=sender_name, key=key
        )
        rule = self.retention.rule(channel)
        remember = idempotency_key if self.idempotency_ttl > 0 else None
        args: list[Any] = [
            blob,
            secrets.token_hex(4),
            *lua.retention_args(rule, ts),
            int((rule.age or 0) * 1000),
            int(self.meta_ttl * 1000),
            self._topic(channel),
            remember or "",
            int(time.time() * 1000),
            int(self.idempotency_ttl * 1000),
            self.idempotency_keys,
            key or "",
            self.latest_keys,
        ]
        keys = [
            self._key(channel, kind)
            for kind in ("meta", "history", "keys", "expiry", "latest", "latest_order")
        ]
        try:
            if remember is not None:  # safe to run twice: the second would be a duplicate
                epoch, offset, duplicate = await self._idempotent(self._publish, keys, args)
            else:
                epoch, offset, duplicate = await self._publish(keys, args)
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        cls = Duplicate if duplicate else Publication
        if rule.keeps and not duplicate:
            self._published[channel] = time.monotonic()
        return cls(
            channel, epoch.decode(), offset, payload, binary=binary, ts=ts, sender=sender,
            sender_name=sender_name, key=key,
        )

    async def add_usage(self, key: str, amount: int, limit: int, window: float) -> int | None:
        """As :meth:`Broker.add_usage`, counted in Redis: the limit holds across servers."""
        index = int(time.time() // window)
        counter = f"{self.prefix}:usage:{key}:{index}"
        ttl = int(window * 1000) + 1000  # outlives its window
        try:
            total = int(await self._usage_script([counter], [amount, limit, ttl]))
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return None if total < 0 else total

    async def latest(self, channel: str, key: str) -> HistoryResult:
        keys = [self._key(channel, kind) for kind in ("meta", "latest")]
        try:
            epoch, offset, entry = await self._idempotent(self._read_latest, keys, [key])
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        pub = lua.decode_latest(channel, entry)
        return HistoryResult([pub] if pub else [], Position(epoch.decode(), int(offset)))

    async def latest_by_prefix(
        self, channel: str, prefix: str, limit: int | None = None
    ) -> HistoryResult:
        keys = [self._key(channel, kind) for kind in ("meta", "latest_order", "latest")]
        try:
            epoch, offset, entries = await self._idempotent(
                self._read_latest_prefix, keys, [prefix, limit or 0]
            )
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        pubs = [lua.decode_latest(channel, entry) for entry in entries]
        return HistoryResult(
            [p for p in pubs if p is not None], Position(epoch.decode(), int(offset))
        )

    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        feed = self._feeds.get(channel)
        if since is None:
            epoch, offset, pubs, _ = await self._read(channel, "latest", limit=limit)
            return HistoryResult(pubs, Position(epoch, offset))
        if feed is None:
            snapshot = await self._read(channel, "after", since, limit)
        else:
            # read from wherever is older, the feed or since, and let the feed deliver what
            # it has not yet: the hub then never gets from the feed what it already read
            await feed.wait_ready(READY_TIMEOUT)
            async with feed.lock:
                start, count = feed.read_start(since, limit)
                snapshot = await self._read(channel, "after", start, count)
                epoch, newest, pubs, _ = snapshot
                feed.apply(epoch, pubs, newest if count is None else None)
        epoch, offset, pubs, first = snapshot
        return recovery.history_result(pubs, since, Position(epoch, offset), first, limit)

    async def position(self, channel: str) -> Position:
        feed = self._feeds.get(channel)
        if feed is None:
            epoch, offset, _, _ = await self._read(channel, "pos")
            return Position(epoch, offset)
        # what the feed delivered: every later publication reaches the hub after this
        await feed.wait_ready(READY_TIMEOUT)
        if not self.connected:
            raise self._unavailable(ConnectionError("reconnecting"))
        return feed.position

    async def channels(self) -> list[ChannelInfo]:
        """Channels with history or presence (a channel whose history expired is not
        listed, though its meta key keeps its position for ``meta_ttl``)."""
        found: set[str] = set()
        try:
            for kind in ("history", "presence"):
                pattern = f"{self.prefix}:{{*}}:{kind}"
                async for key in self._redis.scan_iter(match=pattern, count=1000):
                    found.add(key.decode()[len(self.prefix) + 2 : -len(kind) - 2])
            names = sorted(found)
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel in names:
                    pipe.hmget(self._key(channel, "meta"), "e", "o")
                metas = await pipe.execute()
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return [
            ChannelInfo(channel, Position((e or b"").decode(), int(o or 0)))
            for channel, (e, o) in zip(names, metas, strict=True)
        ]
