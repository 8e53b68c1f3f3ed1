"""What every part of the Redis broker shares: the connection, key names, and reads.

Private to :mod:`jupyter_realtime.brokers.redis`, which assembles :class:`RedisCore`'s
three parts: :mod:`._redis_store` (publish and read), :mod:`._redis_live` (live delivery
over pub/sub; :mod:`._redis_shards` on a Redis Cluster) and :mod:`._redis_presence`
(presence and heartbeats). A ``redis+cluster://`` (or ``rediss+cluster://``) URL selects
redis-py's cluster client: every key and the pub/sub channel of a channel carry the hash tag
``{channel}``, so they live on one shard, and publications travel by sharded pub/sub. Key layout and
scripts: :mod:`._redis_scripts`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ..errors import ErrorCode, RealtimeError
from ..protocol import Position, Publication
from ..redact import redact_url
from . import _redis_scripts as lua
from .base import Broker
from .feed import Feed

__all__ = ["READY_TIMEOUT", "RedisCore", "Snapshot", "let_finish", "redact"]

# epoch, newest offset, publications, first kept offset
Snapshot = tuple[str, int, list[Publication], int]

READY_TIMEOUT = 5.0  # seconds to wait for a new subscription (or the connection)
POOL_SIZE = 64  # connections to one Redis; more commands at once wait up to READY_TIMEOUT
POOL_CLUSTER = 1000  # connections to each node of a cluster, beyond which commands fail
CLUSTER_SUFFIX = "+cluster"  # redis+cluster:// and rediss+cluster:// select Redis Cluster


def _credentials(url: str) -> dict[str, Any]:
    """What a connection to one node of a cluster needs besides its address."""
    parts = urlsplit(url)
    found: dict[str, Any] = {"username": parts.username, "password": parts.password}
    if parts.scheme == "rediss":
        found["ssl"] = True
    return found


_left: set[asyncio.Future[Any]] = set()  # teardowns still running after their time


async def let_finish(awaitable: Awaitable[Any], seconds: float) -> bool:
    """Wait at most ``seconds`` for a teardown, without waiting on its cancellation.

    redis-py (8.2) finishes a pub/sub teardown even when cancelled, and ``asyncio.wait_for``
    waits for a cancelled awaitable to end: one teardown stuck on a dead connection would
    then hold a broker's close forever. A teardown still running after ``seconds`` is left to
    finish (or not) on its own; its errors are dropped. Returns whether it finished.
    """
    future = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({future}, timeout=seconds)
    if future in done:
        if not future.cancelled():
            future.exception()  # retrieved: a failed teardown is not an error here
        return True
    _left.add(future)
    future.add_done_callback(_forget)
    return False


def _forget(future: asyncio.Future[Any]) -> None:
    _left.discard(future)
    if not future.cancelled():
        future.exception()


def redact(url: str) -> str:
    """The URL without its password (``:***@``, ``?password=[secret]``), for messages."""
    return redact_url(url)


class RedisCore(Broker):
    """The state and helpers of :class:`~jupyter_realtime.brokers.redis.RedisBroker`.

    ``key_prefix``: prefix of every key and pub/sub channel. ``presence_ttl``: seconds a
    crashed server's clients stay present (heartbeats every third of it). ``meta_ttl``:
    seconds an idle channel keeps its epoch and offset (0: forever). ``ping_interval``:
    seconds of silence on the pub/sub connection before it is PINGed; without an answer
    within as long again it is taken for dead and replaced.
    """

    def __init__(
        self,
        *,
        key_prefix: str = "jupyter_realtime",
        presence_ttl: float = 30.0,
        meta_ttl: float = 30 * 86400.0,
        ping_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prefix = key_prefix
        self.presence_ttl = presence_ttl
        self.meta_ttl = max(meta_ttl, self.history_ttl) if meta_ttl > 0 else 0.0
        self.ping_interval = ping_interval
        self.node = secrets.token_hex(8)
        self.connected = False
        self._feeds: dict[str, Feed] = {}
        self._present: dict[str, dict[str, dict[str, Any]]] = {}  # ours, to restore
        self._published: dict[str, float] = {}  # channel -> when this server last kept one
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None
        self._up = asyncio.Event()  # set while the pub/sub connection is live
        self._closing = False
        url = self.url or "redis://127.0.0.1:6379/0"
        scheme, _, rest = url.partition("://")
        self.cluster = scheme.endswith(CLUSTER_SUFFIX)
        options: dict[str, Any] = {
            "socket_connect_timeout": 2.0,
            "socket_timeout": 5.0,
            "socket_keepalive": True,
            "retry": Retry(NoBackoff(), 1),
        }
        self._redis: Any
        # a burst of commands (hundreds of clients subscribing at once) waits for a pooled
        # connection instead of failing with "Too many connections"
        if self.cluster:  # one shard per channel: its keys and its pub/sub (SPUBLISH)
            plain = f"{scheme[: -len(CLUSTER_SUFFIX)]}://{rest}"
            # redis-py's cluster pools cannot wait: allow more connections per node
            self._redis = RedisCluster.from_url(plain, max_connections=POOL_CLUSTER, **options)
            self._node_options = {**options, **_credentials(plain)}
        else:
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=POOL_SIZE, timeout=READY_TIMEOUT, **options
            )
            self._redis = aioredis.Redis.from_pool(pool)  # closes the pool with the client

        def script(source: str) -> Any:
            return self._redis.register_script(lua.sharded(source) if self.cluster else source)

        self._publish = script(lua.PUBLISH)
        self._read_script = script(lua.READ)
        self._read_latest = script(lua.READ_LATEST)
        self._read_latest_prefix = script(lua.READ_LATEST_PREFIX)
        self._open = script(lua.OPEN)
        self._add = script(lua.ADD_PRESENCE)
        self._remove = script(lua.REMOVE_PRESENCE)
        self._reap_script = script(lua.REAP_PRESENCE)
        self._usage_script = script(lua.USAGE)

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

    @property
    def _presence_ms(self) -> int:
        return max(1, int(self.presence_ttl * 1000))

    @property
    def _roster_ms(self) -> int:
        # a presence hash outlives its servers' heartbeats by far: the live servers reap a
        # dead server's clients (announcing their leaves) long before the hash could expire;
        # its expiry only cleans up after every server is gone
        return self._presence_ms * 10

    async def _mget(self, keys: list[str]) -> list[Any]:
        """MGET of keys that may live on several shards of a cluster."""
        if self.cluster:
            return await self._redis.mget_nonatomic(keys)  # type: ignore[no-any-return]
        return await self._redis.mget(keys)  # type: ignore[no-any-return]

    # -- reads (shared by the store and live delivery) --

    async def _idempotent(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a script that may safely run twice (a read, the epoch of a new channel),
        once more if the connection turns out to be dead: after Redis restarted, the pooled
        connections are stale and redis-py's own retry does not always get past them."""
        try:
            return await script(keys, args)
        except RedisConnectionError:
            pass
        try:
            return await script(keys, args)
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def _read(
        self, channel: str, mode: str, after: Position | None = None, limit: int | None = None
    ) -> Snapshot:
        """One READ script: ``pos`` (position only), ``latest`` (the newest ``limit``) or
        ``after`` (the first ``limit`` after ``after``). Creates nothing."""
        count, size, cutoff = lua.retention_args(self.retention.rule(channel), time.time())
        args: list[Any] = [
            cutoff,
            count,
            size,
            mode,
            after.epoch if after else "",
            after.offset if after else 0,
            limit or 0,
        ]
        keys = [self._key(channel, "meta"), self._key(channel, "history")]
        raw_epoch, offset, entries, first = await self._idempotent(self._read_script, keys, args)
        epoch = raw_epoch.decode()
        pubs = lua.decode_entries(channel, epoch, entries)
        return epoch, int(offset), pubs[::-1] if mode == "latest" else pubs, int(first)
