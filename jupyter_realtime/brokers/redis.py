"""The Redis broker: many Jupyter servers share channels through one Redis.

Public names: :class:`RedisBroker`, :func:`redact`. It and its private parts are the only
modules of the project that import ``redis``:

* :mod:`._redis_store`: **history and offsets** in a Redis Stream per channel (entry id =
  offset), bounded by length (``MAXLEN``) and age (``MINID``, and the stream expires
  ``history_ttl`` after its last publication, whether or not anyone reads it). A publish
  is one script: offset, append and pub/sub publish in one step. Reads create nothing.
* :mod:`._redis_live`: **live delivery** over one pub/sub connection per server, made
  gap-free by a :class:`~.feed.Feed` per channel, and kept alive by PINGs: a half-open
  connection is detected, replaced, and the feeds catch up from the streams.
* :mod:`._redis_documents`: **shared documents**, a hash per document beside its channel.
* :mod:`._redis_presence`: **presence**, a hash per channel whose entries name the server
  that added them, and a heartbeat key per server; a server that stops beating loses its
  clients, and the servers still subscribed announce their leaves.

**Redis Cluster** (a ``redis+cluster://`` URL): each channel's keys and pub/sub channel
share the hash tag ``{channel}``, so a channel lives on one shard and every script touches
one slot; publications travel by sharded pub/sub (``SPUBLISH``), one connection per primary
(:mod:`._redis_shards`).

**Epochs** are stored in Redis (the channel's meta key) and change only when that key was
lost (Redis restarted without persistence, or the channel was idle past ``meta_ttl``).

Scripts and key layout: :mod:`._redis_scripts`. Deployment: ``docs/scaling.md``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.exceptions import RedisError

from ..errors import ErrorCode, RealtimeError
from ._redis_core import READY_TIMEOUT, let_finish, redact
from ._redis_documents import RedisDocuments
from ._redis_presence import RedisPresence
from ._redis_shards import RedisShards
from ._redis_store import RedisStore

__all__ = ["RedisBroker", "redact"]

log = logging.getLogger("jupyter_realtime.brokers.redis")

CLOSE_TIMEOUT = 3.0  # seconds a close waits for the background tasks and the connections


class RedisBroker(RedisStore, RedisShards, RedisPresence):
    """Channels in Redis, shared by every server configured with the same ``url``.

    Options (besides the :class:`~.base.Broker` ones): ``key_prefix``, ``presence_ttl``,
    ``meta_ttl`` and ``ping_interval``, described in :class:`~._redis_core.RedisCore`.
    """

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
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=CLOSE_TIMEOUT)
            if stuck:
                log.warning(
                    "Redis broker: %d background task(s) still closing their connections "
                    "after %g s; closing without them",
                    len(stuck),
                    CLOSE_TIMEOUT,
                )
        try:
            await asyncio.wait_for(self._withdraw(), 2.0)
        except (RealtimeError, RedisError, OSError, asyncio.TimeoutError):
            log.info("could not withdraw presence from Redis at %s", redact(self.url))
        if not await let_finish(self._redis.aclose(), CLOSE_TIMEOUT):
            log.warning(
                "Redis at %s: closing the connections took over %g s; left to finish",
                redact(self.url),
                CLOSE_TIMEOUT,
            )

    def document_storage(self) -> RedisDocuments:
        return RedisDocuments(self)

    def is_live(self, channel: str) -> bool:
        """Subscribers or presence on this server, or history this server wrote that Redis
        still keeps (by ``history_ttl``, else ``meta_ttl``)."""
        if channel in self._feeds or channel in self._present:
            return True
        stamp = self._published.get(channel)
        keep = self.history_ttl or self.meta_ttl
        return stamp is not None and (keep <= 0 or time.monotonic() - stamp < keep)
