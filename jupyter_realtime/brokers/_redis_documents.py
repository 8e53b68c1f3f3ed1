"""Shared documents in Redis, beside their channels.

Private to :mod:`jupyter_realtime.brokers.redis`; public name: :class:`RedisDocuments`,
what ``RedisBroker.document_storage()`` returns. One hash per document,
``{prefix}:{channel}:document`` with ``epoch``, ``offset`` and ``state``: the channel's
hash tag, so on a Redis Cluster it lives on the channel's shard, reached through the
broker's own (cluster-aware) connection. A save is one script that never replaces a
document of a newer position of the same epoch (two servers holding one document both
save it).

Documents of a server of an earlier version, at ``{prefix}:document:{channel}`` (plain
Redis only), are read when the new key is missing; the next save writes the new key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from .base import CorruptDocument, DocumentStorage, StoredDocument

if TYPE_CHECKING:
    from ._redis_core import RedisCore

__all__ = ["RedisDocuments"]

SAVE = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset') or '-1')
if epoch == ARGV[1] and offset > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', ARGV[2], 'state', ARGV[3])
return 1
"""


class RedisDocuments(DocumentStorage):
    def __init__(self, broker: RedisCore) -> None:
        self.broker = broker
        self._save: Any = broker._redis.register_script(SAVE)

    def key(self, name: str) -> str:
        return self.broker._key(name, "document")

    def where(self, name: str) -> str:
        return f"the Redis key {self.key(name)}"

    async def load(self, name: str) -> StoredDocument | None:
        redis = self.broker._redis
        try:
            fields = await redis.hgetall(self.key(name))
            if not fields and not self.broker.cluster:
                fields = await redis.hgetall(f"{self.broker.prefix}:document:{name}")
        except RedisError as exc:
            raise self.broker._unavailable(exc) from exc
        if not fields:
            return None
        try:
            return StoredDocument(
                fields[b"epoch"].decode(), int(fields[b"offset"]), bytes(fields[b"state"])
            )
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise CorruptDocument(f"{self.where(name)}: {exc!r}") from None

    async def save(self, name: str, document: StoredDocument) -> None:
        args = [document.epoch, document.offset, document.state]
        try:
            await self._save(keys=[self.key(name)], args=args)
        except RedisError as exc:
            raise self.broker._unavailable(exc) from exc
