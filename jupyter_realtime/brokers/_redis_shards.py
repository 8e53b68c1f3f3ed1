"""Live delivery on a Redis Cluster: one sharded pub/sub connection per primary.

Private to :mod:`jupyter_realtime.brokers.redis`. On a cluster a channel's publications are
published with ``SPUBLISH`` on its shard only (the pub/sub channel ``P:{C}`` is in the slot
of the channel's keys), so the cluster does not broadcast every publication to every node.
This server keeps one connection per primary (a *link*) and ``SSUBSCRIBE``\\ s each channel
it has subscribers for on the link of the primary that serves the channel's slot.

Each link is also subscribed to a shard channel of its own (``P:link:<n>``, picked in one of
the primary's slots) so that it is a pub/sub connection from the start and the liveness
PINGs of :mod:`._redis_live` apply to it. Whatever goes wrong on one link (a primary dies,
a slot moves and Redis unsubscribes us, a PING goes unanswered) replaces every link after
the cluster's topology is read again; then every feed catches up from its stream, as after
a reconnect to a single Redis: nothing lost, nothing repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import RealtimeError
from ._redis_core import let_finish, redact
from ._redis_live import BACKOFF_MAX, BACKOFF_MIN, RedisLive

__all__ = ["RedisShards"]

log = logging.getLogger("jupyter_realtime.brokers.redis")


class RedisShards(RedisLive):
    """:class:`RedisLive` that, on a cluster (``self.cluster``), delivers by shard."""

    _links: dict[str, Any]  # primary's name -> its pub/sub connection
    _relink: asyncio.Event  # set when the links no longer match the topology

    async def _listen(self) -> None:
        if not self.cluster:
            return await super()._listen()
        self._links, self._relink = {}, asyncio.Event()
        delay = BACKOFF_MIN
        lost_since: float | None = None
        while True:
            clients: list[aioredis.Redis] = []
            linked_at: float | None = None
            try:
                await self._redis.initialize()
                if lost_since is not None:  # read the topology again: a primary may have moved
                    await self._redis.nodes_manager.initialize()
                self._relink.clear()
                tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._relink.wait())]
                for node in self._redis.get_primaries():
                    client = aioredis.Redis(host=node.host, port=node.port, **self._node_options)
                    clients.append(client)
                    pubsub = self._links[node.name] = client.pubsub()
                    await pubsub.ssubscribe(self._link_channel(node.name))
                    tasks.append(asyncio.ensure_future(self._read_link(pubsub)))
                self.connected = True
                self._up.set()
                for channel in list(self._feeds):
                    await self._listen_to(channel)
                if lost_since is not None:
                    log.warning("reconnected to the Redis cluster at %s", redact(self.url))
                    lost_since = None
                linked_at = time.monotonic()
                try:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in tasks:
                        task.cancel()
                for task in done:
                    task.result()  # raises why the link ended
                raise ConnectionError("the cluster's topology changed")
            except Exception as exc:  # RedisError, OSError, RealtimeError; or a bug: log it
                if not isinstance(exc, (RedisError, OSError, RealtimeError)):
                    log.exception("live delivery from the Redis cluster failed; reconnecting")
                if lost_since is None:
                    lost_since = time.monotonic()
                    log.warning(
                        "lost the Redis cluster at %s (%s); reconnecting", redact(self.url), exc
                    )
            finally:
                self.connected = False
                self._up.clear()
                links, self._links = list(self._links.values()), {}
                for pubsub in links:
                    await let_finish(pubsub.aclose(), 1.0)
                for client in clients:
                    await let_finish(client.aclose(), 1.0)
            if linked_at is not None and time.monotonic() - linked_at > BACKOFF_MAX:
                delay = BACKOFF_MIN  # the links worked for a while: reconnect at once
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _read_link(self, pubsub: Any) -> None:
        while True:
            message = await self._next_message(pubsub)
            if message["type"] != "pong":
                await self._on_message(message)

    def _link_channel(self, node_name: str) -> str:
        """A shard channel in one of the slots of ``node_name``, for its link's own use."""
        for i in range(100_000):
            name = f"{self.prefix}:link:{i}"
            if self._redis.get_node_from_key(name).name == node_name:
                return name
        raise RuntimeError(f"no slot of {node_name} found")  # pragma: no cover

    def _link_of(self, channel: str) -> Any:
        node = self._redis.get_node_from_key(self._topic(channel))
        pubsub = self._links.get(node.name)
        if pubsub is None:  # the topology changed: replace every link
            self._relink.set()
            raise ConnectionError(f"no link to {node.name}, the primary of {channel!r}")
        return pubsub

    async def _listen_to(self, channel: str) -> None:
        if not self.cluster:
            return await super()._listen_to(channel)
        if self.connected:
            with contextlib.suppress(RedisError, OSError):
                await self._link_of(channel).ssubscribe(self._topic(channel))

    async def _stop_listening(self, channel: str) -> None:
        if not self.cluster:
            return await super()._stop_listening(channel)
        if self.connected:
            with contextlib.suppress(RedisError, OSError):
                await self._link_of(channel).sunsubscribe(self._topic(channel))
