"""The Redis broker: many Jupyter servers share channels through one Redis.

Public name: :class:`RedisBroker`. The only module of the project that imports ``redis``.

* **History and offsets** live in a Redis Stream per channel (entry id = offset), bounded
  by length (``MAXLEN``) and age (``MINID``). A publish is one ``EVALSHA``: the script
  increments the offset, appends to the stream and publishes to the channel's pub/sub
  channel, so a publication is stored before anyone sees it.
* **Live delivery**: one pub/sub connection per server, subscribed to the channels this
  server has subscribers for. Pub/sub is at-most-once, so each channel's *feed* keeps the
  last offset it delivered: a publication that is not the next one is preceded by the
  missing ones, read from the stream; older ones are dropped. After a reconnect every
  feed catches up from the stream. The hub thus sees each offset once and in order.
* **Epochs** are stored in Redis and change only when a channel's meta key was lost
  (Redis restarted without persistence, or the channel was idle past ``meta_ttl``).
* **Presence**: a hash per channel whose entries name the server that added them, and a
  heartbeat key per server; a server that stops beating loses its clients, and the
  servers still subscribed announce their leaves.

Scripts and key layout: :mod:`._redis_scripts`. Deployment: ``docs/scaling.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..errors import ErrorCode, RealtimeError
from ..protocol import Position, Publication
from . import _redis_scripts as lua
from .base import Broker, ChannelInfo, HistoryResult
from .feed import Feed

__all__ = ["RedisBroker"]

log = logging.getLogger("jupyter_realtime.brokers.redis")

Snapshot = tuple[str, int, list[Publication]]  # epoch, newest offset, publications

BACKOFF_MIN, BACKOFF_MAX = 0.05, 5.0  # seconds between reconnection attempts
READY_TIMEOUT = 5.0  # seconds to wait for a new subscription (or the connection)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class RedisBroker(Broker):
    """Channels in Redis, shared by every server configured with the same ``url``.

    ``key_prefix``: prefix of every key and pub/sub channel. ``presence_ttl``: seconds a
    crashed server's clients stay present (heartbeats every third of it). ``meta_ttl``:
    seconds an idle channel keeps its epoch and offset (0: forever).
    """

    def __init__(
        self,
        *,
        key_prefix: str = "jupyter_realtime",
        presence_ttl: float = 30.0,
        meta_ttl: float = 30 * 86400.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prefix = key_prefix
        self.presence_ttl = presence_ttl
        self.meta_ttl = max(meta_ttl, self.history_ttl) if meta_ttl > 0 else 0.0
        self.node = secrets.token_hex(8)
        self.connected = False
        self._feeds: dict[str, Feed] = {}
        self._present: dict[str, dict[str, dict[str, Any]]] = {}  # ours, to restore
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None
        self._up = asyncio.Event()  # set while the pub/sub connection is live
        self._closing = False
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            self.url or "redis://127.0.0.1:6379/0",
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            retry=Retry(NoBackoff(), 1),
        )
        self._publish = self._redis.register_script(lua.PUBLISH)
        self._read_script = self._redis.register_script(lua.READ)
        self._add = self._redis.register_script(lua.ADD_PRESENCE)
        self._remove = self._redis.register_script(lua.REMOVE_PRESENCE)
        self._reap_script = self._redis.register_script(lua.REAP_PRESENCE)

    # -- names --

    def _key(self, channel: str, kind: str) -> str:
        return f"{self.prefix}:{{{channel}}}:{kind}"

    def _topic(self, channel: str) -> str:
        return f"{self.prefix}:{{{channel}}}"

    def _node_key(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    def _unavailable(self, exc: BaseException) -> RealtimeError:
        return RealtimeError(
            ErrorCode.UNAVAILABLE, f"Redis at {redact(self.url)} is unavailable: {exc}"
        )

    # -- lifecycle --

    async def start(self) -> None:
        """Connect, then deliver and heartbeat in the background (reconnecting by itself)."""
        self._tasks = [
            asyncio.ensure_future(self._listen()),
            asyncio.ensure_future(self._heartbeat()),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_done)
        try:
            await self._redis.set(self._node_key(self.node), b"1", px=self._presence_ms)
            await asyncio.wait_for(self._up.wait(), READY_TIMEOUT)
        except (RedisError, asyncio.TimeoutError) as exc:
            raise RealtimeError(
                ErrorCode.UNAVAILABLE,
                f"cannot connect to Redis at {redact(self.url)}: {exc}; retrying in the background",
            ) from exc

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not self._closing:
            exc = None if task.cancelled() else task.exception()
            log.error("Redis broker task %s ended: %r", task.get_coro(), exc, exc_info=exc)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        try:
            await asyncio.wait_for(self._withdraw(), 2.0)
        except (RealtimeError, RedisError, asyncio.TimeoutError):
            log.info("could not withdraw presence from Redis at %s", redact(self.url))
        await self._redis.aclose()

    async def _withdraw(self) -> None:
        for channel, clients in list(self._present.items()):
            for client in list(clients):
                await self.remove_presence(channel, client)
        await self._redis.delete(self._node_key(self.node))

    @property
    def _presence_ms(self) -> int:
        return max(1, int(self.presence_ttl * 1000))

    @property
    def _roster_ms(self) -> int:
        # a presence hash outlives its servers' heartbeats by far: the live servers reap a
        # dead server's clients (announcing their leaves) long before the hash could expire;
        # its expiry only cleans up after every server is gone
        return self._presence_ms * 10

    # -- publish and read --

    async def publish(
        self, channel: str, payload: bytes, *, binary: bool, sender: str | None, ts: float
    ) -> Publication:
        blob = lua.encode_blob(payload, binary=binary, sender=sender, ts=ts)
        ttl = self.history_ttl
        args: list[Any] = [
            blob,
            secrets.token_hex(4),
            self.history_size,
            repr(ts - ttl) if ttl > 0 else "",
            int(ttl * 1000),
            int(self.meta_ttl * 1000),
            self._topic(channel),
        ]
        keys = [self._key(channel, "meta"), self._key(channel, "history")]
        try:
            epoch, offset = await self._publish(keys, args)
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return Publication(
            channel, epoch.decode(), offset, payload, binary=binary, ts=ts, sender=sender
        )

    async def _read(
        self, channel: str, mode: str, after: Position | None = None, limit: int | None = None
    ) -> Snapshot:
        ttl = self.history_ttl
        args: list[Any] = [
            secrets.token_hex(4),
            int(self.meta_ttl * 1000),
            repr(time.time() - ttl) if ttl > 0 else "",
            self.history_size,
            mode,
            after.epoch if after else "",
            after.offset if after else 0,
            limit or 0,
        ]
        keys = [self._key(channel, "meta"), self._key(channel, "history")]
        try:
            raw_epoch, offset, entries = await self._read_script(keys, args)
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        epoch = raw_epoch.decode()
        pubs = lua.decode_entries(channel, epoch, entries)
        return epoch, int(offset), pubs[::-1] if mode == "latest" else pubs

    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        feed = self._feeds.get(channel)
        if since is None:
            epoch, offset, pubs = await self._read(channel, "latest", limit=limit)
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
                epoch, newest, pubs = snapshot
                feed.apply(epoch, pubs, newest if count is None else None)
        return _history_result(snapshot, since, limit)

    async def position(self, channel: str) -> Position:
        feed = self._feeds.get(channel)
        if feed is None:
            epoch, offset, _ = await self._read(channel, "pos")
            return Position(epoch, offset)
        # what the feed delivered: every later publication reaches the hub after this
        await feed.wait_ready(READY_TIMEOUT)
        if not self.connected:
            raise self._unavailable(ConnectionError("reconnecting"))
        return feed.position

    # -- live delivery --

    async def subscribe(self, channel: str) -> None:
        """Live once Redis confirmed the subscription; while the pub/sub connection is
        being re-established, waits for it (at most ``READY_TIMEOUT``)."""
        feed = self._feeds.get(channel)
        if feed is None:
            feed = self._feeds[channel] = Feed(channel, self._deliver, self._gap)
            if self._pubsub is not None:  # else the reconnection subscribes every feed
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(self._topic(channel))
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
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
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
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _on_message(self, message: dict[str, Any]) -> None:
        topic: bytes = message["channel"]
        prefix = len(self.prefix) + 2
        feed = self._feeds.get(topic[prefix:-1].decode())
        if feed is None:
            return
        kind, data = message["type"], message["data"]
        if kind == b"subscribe" or kind == "subscribe":
            await self._catch_up(feed)
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
            epoch, offset, _ = await self._read(feed.channel, "pos")
            feed.start(Position(epoch, offset))
            return
        if not locked:
            async with feed.lock:
                return await self._catch_up(feed, locked=True, also=also)
        if also is not None and feed.apply(also.epoch, [also], strict=True):
            return  # filled meanwhile by another read
        epoch, newest, pubs = await self._read(feed.channel, "after", feed.position)
        if also is not None and also.epoch == epoch:
            pubs = sorted({p.offset: p for p in [also, *pubs]}.values(), key=_offset)
        feed.apply(epoch, pubs, newest)

    # -- presence --

    async def add_presence(self, channel: str, client: str, info: dict[str, Any]) -> None:
        self._present.setdefault(channel, {})[client] = info
        await self._announce(channel, client, info)

    async def _announce(
        self, channel: str, client: str, info: dict[str, Any], client_obj: Any = None
    ) -> None:
        raw = orjson.dumps(info)
        args: list[Any] = [
            client,
            self.node.encode() + b"|" + raw,
            self._roster_ms,
            self._topic(channel),
        ]
        try:
            await self._add([self._key(channel, "presence")], [*args, raw], client=client_obj)
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def remove_presence(self, channel: str, client: str) -> None:
        mine = self._present.get(channel)
        if mine is not None:
            mine.pop(client, None)
            if not mine:
                del self._present[channel]
        try:
            await self._remove([self._key(channel, "presence")], [client, self._topic(channel)])
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def presence(self, channel: str) -> list[dict[str, Any]]:
        try:
            values: list[bytes] = await self._redis.hvals(self._key(channel, "presence"))  # type: ignore[assignment]
            dead = await self._dead_nodes(values)
            if dead:
                await self._reap(channel, dead)
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        entries = [value.split(b"|", 1) for value in values]
        return [orjson.loads(info) for node, info in entries if node.decode() not in dead]

    async def _dead_nodes(self, values: list[bytes]) -> set[str]:
        nodes = sorted({v.split(b"|", 1)[0].decode() for v in values} - {self.node})
        if not nodes:
            return set()
        alive = await self._redis.mget([self._node_key(n) for n in nodes])
        return {node for node, beat in zip(nodes, alive, strict=True) if beat is None}

    async def _reap(self, channel: str, dead: set[str]) -> None:
        await self._reap_script(
            [self._key(channel, "presence")], [self._topic(channel), *sorted(dead)]
        )

    async def _heartbeat(self) -> None:
        """Beat every third of ``presence_ttl``; restore our presence if Redis lost it;
        reap the clients of dead servers in the channels this server follows."""
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            try:
                await self._beat()
            except (RedisError, RealtimeError) as exc:
                log.debug("heartbeat to Redis failed: %s", exc)
            except Exception:  # never let the heartbeat die: presence depends on it
                log.warning("heartbeat to Redis failed", exc_info=True)

    async def _beat(self) -> None:
        was = await self._redis.set(self._node_key(self.node), b"1", px=self._presence_ms, get=True)
        present = list(self._present.items())
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, clients in present:
                if was is None:  # our heartbeat had gone: so may have our clients
                    for client, info in clients.items():
                        await self._announce(channel, client, info, client_obj=pipe)
                pipe.pexpire(self._key(channel, "presence"), self._roster_ms)
            await pipe.execute()
        for channel in list(self._feeds):
            values = await self._redis.hvals(self._key(channel, "presence"))
            dead = await self._dead_nodes(values)  # type: ignore[arg-type]
            if dead:
                await self._reap(channel, dead)

    # -- listing --

    async def channels(self) -> list[ChannelInfo]:
        found: set[str] = set()
        try:
            for kind in ("meta", "presence"):
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


def _offset(pub: Publication) -> int:
    return pub.offset


def _history_result(snapshot: Snapshot, since: Position, limit: int | None) -> HistoryResult:
    epoch, offset, pubs = snapshot
    position = Position(epoch, offset)
    if since.epoch != epoch:
        return HistoryResult(pubs[:limit] if limit else pubs, position, False)
    after = [p for p in pubs if p.offset > since.offset]
    recovered = since.offset >= offset or bool(after and after[0].offset == since.offset + 1)
    return HistoryResult(after[:limit] if limit else after, position, recovered)
