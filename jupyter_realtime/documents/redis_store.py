"""Snapshots of shared documents in Redis, so that every server sharing it continues from them.

Public name: :class:`RedisStore`. One hash per document, ``{prefix}:document:{channel}``,
with ``epoch``, ``offset`` and ``state``. The store has its own connection: it never reaches
into the broker. A save never replaces a snapshot of a newer position of the same epoch
(two servers holding the same document both save it).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from .store import Snapshot

__all__ = ["RedisStore"]

_SAVE = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset') or '-1')
if epoch == ARGV[1] and offset > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', ARGV[2], 'state', ARGV[3])
return 1
"""


class RedisStore:
    def __init__(self, url: str, *, key_prefix: str = "jupyter_realtime") -> None:
        self.key_prefix = key_prefix
        self._redis: Any = aioredis.from_url(url)
        self._save = self._redis.register_script(_SAVE)

    def key(self, channel: str) -> str:
        return f"{self.key_prefix}:document:{channel}"

    async def load(self, channel: str) -> Snapshot | None:
        fields = await self._redis.hgetall(self.key(channel))
        if not fields:
            return None
        return Snapshot(fields[b"epoch"].decode(), int(fields[b"offset"]), fields[b"state"])

    async def save(self, channel: str, snapshot: Snapshot) -> None:
        await self._save(
            keys=[self.key(channel)], args=[snapshot.epoch, snapshot.offset, snapshot.state]
        )

    async def close(self) -> None:
        await self._redis.aclose()
