"""The in-memory broker: the default, for one Jupyter server.

Public name: :class:`MemoryBroker`. History lives in a bounded deque per channel; a
restart of the server loses it, and the new process gives every channel a new epoch, so
clients that resume learn of the gap (``recovered: false``) instead of missing messages.
Everything runs on the event loop thread, so publish is atomic without locks.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..protocol import Position, Publication
from .base import Broker, ChannelInfo, HistoryResult

__all__ = ["MemoryBroker"]


class _Channel:
    __slots__ = ("epoch", "offset", "history", "presence")

    def __init__(self, history_size: int) -> None:
        self.epoch = secrets.token_hex(4)
        self.offset = 0
        self.history: deque[Publication] = deque(maxlen=history_size or None)
        self.presence: dict[str, dict[str, Any]] = {}


class MemoryBroker(Broker):
    def __init__(self, *, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self._channels: dict[str, _Channel] = {}

    def _channel(self, name: str) -> _Channel:
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = _Channel(self.history_size)
        return ch

    def _expire(self, ch: _Channel, now: float) -> None:
        if self.history_ttl > 0:
            limit = now - self.history_ttl
            history = ch.history
            while history and history[0].ts < limit:
                history.popleft()

    async def publish(
        self, channel: str, payload: bytes, *, binary: bool, sender: str | None, ts: float
    ) -> Publication:
        ch = self._channel(channel)
        ch.offset += 1
        pub = Publication(
            channel, ch.epoch, ch.offset, payload, binary=binary, ts=ts, sender=sender
        )
        if self.history_size:
            self._expire(ch, ts)
            ch.history.append(pub)
        if self.handler is not None:
            self.handler.on_publication(pub)
        return pub

    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        ch = self._channel(channel)
        self._expire(ch, self.clock())
        position = Position(ch.epoch, ch.offset)
        pubs = list(ch.history)
        if since is None:
            return HistoryResult(pubs[-limit:] if limit else pubs, position)
        if since.epoch != ch.epoch:
            # A position from another epoch cannot be placed: the history it belonged to is
            # gone. Offer what is kept, and say that it does not reach back.
            return HistoryResult(pubs[:limit] if limit else pubs, position, False)
        first = pubs[0].offset if pubs else ch.offset + 1
        after = [p for p in pubs if p.offset > since.offset] if since.offset >= first else pubs
        recovered = since.offset >= first - 1
        return HistoryResult(after[:limit] if limit else after, position, recovered)

    async def position(self, channel: str) -> Position:
        ch = self._channel(channel)
        return Position(ch.epoch, ch.offset)

    async def add_presence(self, channel: str, client: str, info: dict[str, Any]) -> None:
        ch = self._channel(channel)
        ch.presence[client] = info
        if self.handler is not None:
            self.handler.on_join(channel, info)

    async def remove_presence(self, channel: str, client: str) -> None:
        ch = self._channels.get(channel)
        info = ch.presence.pop(client, None) if ch is not None else None
        if info is not None and self.handler is not None:
            self.handler.on_leave(channel, info)

    async def presence(self, channel: str) -> list[dict[str, Any]]:
        ch = self._channels.get(channel)
        return list(ch.presence.values()) if ch is not None else []

    async def channels(self) -> list[ChannelInfo]:
        return [
            ChannelInfo(name, Position(ch.epoch, ch.offset))
            for name, ch in self._channels.items()
        ]
