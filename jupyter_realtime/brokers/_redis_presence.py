"""The Redis broker's presence: a hash per channel, a heartbeat per server.

Private to :mod:`jupyter_realtime.brokers.redis`. Each entry of a channel's presence hash
names the server that added it; each server keeps a heartbeat key alive. A server that
stops beating loses its clients: the servers still subscribed to the channel reap them
and announce their leaves (once: the reap is one script).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from redis.exceptions import RedisError

from ..errors import RealtimeError
from ._redis_core import RedisCore

__all__ = ["RedisPresence"]

log = logging.getLogger("jupyter_realtime.brokers.redis")


class RedisPresence(RedisCore):
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
            values: list[bytes] = await self._redis.hvals(self._key(channel, "presence"))
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
        alive = await self._mget([self._node_key(n) for n in nodes])
        return {node for node, beat in zip(nodes, alive, strict=True) if beat is None}

    async def _reap(self, channel: str, dead: set[str]) -> None:
        await self._reap_script(
            [self._key(channel, "presence")], [self._topic(channel), *sorted(dead)]
        )

    async def _withdraw(self) -> None:
        for channel, clients in list(self._present.items()):
            for client in list(clients):
                await self.remove_presence(channel, client)
        await self._redis.delete(self._node_key(self.node))

    async def _heartbeat(self) -> None:
        """Beat every third of ``presence_ttl``; restore our presence if Redis lost it;
        reap the clients of dead servers in the channels this server follows."""
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            self._forget_published()
            try:
                await self._beat()
            except (RedisError, RealtimeError) as exc:
                log.debug("heartbeat to Redis failed: %s", exc)
            except Exception:  # never let the heartbeat die: presence depends on it
                log.warning("heartbeat to Redis failed", exc_info=True)

    def _forget_published(self) -> None:
        """Forget the channels whose history this server wrote and Redis has expired."""
        keep = self.history_ttl or self.meta_ttl
        if keep > 0:
            cutoff = time.monotonic() - keep
            for channel, stamp in list(self._published.items()):
                if stamp < cutoff:
                    del self._published[channel]

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
            dead = await self._dead_nodes(values)
            if dead:
                await self._reap(channel, dead)
