"""The in-memory broker: for tests and throwaway servers (``broker_url = "memory://"``).

Public name: :class:`MemoryBroker`. History lives in a deque per channel; a restart of the
server loses it, and the new process gives every channel a new epoch, so clients that
resume learn of the gap (``recovered: false``) instead of missing messages. Everything
runs on the event loop thread, so publish is atomic without locks.

**Persistence hooks.** ``_changed``, ``_fresh`` and ``_appended`` are called whenever a
channel's kept state changes; they do nothing here. The durable default
(:mod:`.sqlite`) keeps this broker's state as its working set and writes what the hooks
report to disk.

**Lifecycle.** A channel exists while it has subscribers (the hub's ``subscribe``),
presence or history. Reads (``history``, ``position``, ``presence``) create nothing. A
timer expires history older than ``history_ttl`` whether or not the channel is touched,
and lets go of channels left with nothing; a channel let go keeps only its epoch and
offset, for ``meta_ttl`` seconds, so that a client resuming from it is told the truth
(and a channel used again continues its epoch). See ``docs/scaling.md``.

**Bounded memory.** History is bounded per channel by the channel's retention rule
(:mod:`.retention`: bytes, age and count, per channel pattern; ``_trim``), and server-wide
by bytes (``history_bytes_total``): above it the oldest publications of the largest
channels go first (``_evict``). Trimming moves a channel's first kept offset, so a resume
from before it is ``recovered: false``. History keeps bare publications
(:meth:`Publication.bare`). The default here is modest (``DEFAULT_BYTES`` per channel):
memory is what it costs.

**Keyed publications** (``publish(..., key=K)``): besides its history, a channel keeps the
latest publication of each key in ``latest`` (least recently published first), at most
``latest_keys`` of them, untouched by the bounds of history (count, age, bytes); a channel
holding one is not let go. ``_latest_changed`` reports them to a persistent subclass.

**Idempotency keys** live in the channel, oldest first, each with its offset and the time
it expires (``idempotency_ttl``), at most ``idempotency_keys`` of them; the sweep expires
them with the history, and a channel holding keys is not let go until they expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from ..protocol import Position, Publication
from . import recovery
from .base import Broker, ChannelInfo, Duplicate, HistoryResult
from .retention import Rule

__all__ = ["DEFAULT_BYTES", "DEFAULT_BYTES_TOTAL", "MemoryBroker", "kept_size"]

log = logging.getLogger("jupyter_realtime.brokers.memory")

PUBLICATION_OVERHEAD = 320  # bytes a kept publication costs beyond its payload and sender
EVICT_TO = 0.9  # above the server-wide budget, evict down to this fraction of it
DEFAULT_BYTES = 16 << 20  # history per channel, when no rule says otherwise
DEFAULT_BYTES_TOTAL = 256 << 20  # history of every channel together


def kept_size(pub: Publication) -> int:
    """The bytes a publication kept in history is counted as (an estimate of its memory)."""
    names = len(pub.sender or "") + len(pub.sender_name or "")
    return len(pub.payload) + names + PUBLICATION_OVERHEAD


class _Channel:
    __slots__ = (
        "name", "epoch", "offset", "history", "presence", "subscribed", "size", "keys", "latest",
        "rule",
    )

    def __init__(self, name: str, epoch: str, offset: int, rule: Rule) -> None:
        self.name = name
        self.rule = rule  # its retention rule
        self.epoch = epoch
        self.offset = offset
        self.history: deque[Publication] = deque()
        self.presence: dict[str, dict[str, Any]] = {}
        self.subscribed = False
        self.size = 0  # bytes of history, by kept_size
        # idempotency key -> (offset, expires at), oldest first
        self.keys: OrderedDict[str, tuple[int, float]] = OrderedDict()
        # publication key -> its latest publication, least recently published first
        self.latest: OrderedDict[str, Publication] = OrderedDict()

    @property
    def live(self) -> bool:
        return bool(
            self.subscribed or self.presence or self.history or self.keys or self.latest
        )

    def expire_keys(self, now: float) -> None:
        keys = self.keys
        while keys and next(iter(keys.values()))[1] <= now:
            keys.popitem(last=False)

    @property
    def first_kept(self) -> int:
        return self.history[0].offset if self.history else self.offset + 1


class MemoryBroker(Broker):
    """``meta_ttl``: seconds a channel let go keeps its epoch and offset (0: forever).
    ``history_bytes`` / ``history_bytes_total``: bytes of history per channel (the default
    rule's, when no ``retention`` is given) / for every channel together (0: no limit).
    ``sweep_interval``: seconds between expiry sweeps
    (default: a quarter of the shorter TTL, from 0.5 to 10 s)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        meta_ttl: float = 3600.0,
        history_bytes: int = DEFAULT_BYTES,
        history_bytes_total: int = DEFAULT_BYTES_TOTAL,
        sweep_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(history_bytes=history_bytes, **kwargs)
        self.clock = clock
        self.meta_ttl = meta_ttl
        self.history_bytes = self.retention.default.bytes or 0
        self.history_bytes_total = history_bytes_total
        ttls = [t for t in (self.retention.shortest_age, meta_ttl) if t]
        self.sweep_interval = sweep_interval or min(10.0, max(0.5, min(ttls, default=40) / 4))
        self.bytes = 0  # bytes of every channel's history
        self._channels: dict[str, _Channel] = {}
        # channels let go: name -> (epoch, offset, forget at), oldest first
        self._retired: dict[str, tuple[str, int, float]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle --

    async def start(self) -> None:
        self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                self.sweep()
            except Exception:  # never let the timer die: memory depends on it
                log.exception("sweeping channels failed")

    def sweep(self) -> None:
        """Expire old history of every channel, let go of empty ones, forget old ones."""
        now = self.clock()
        for name, ch in list(self._channels.items()):
            self._expire(ch, now)
            ch.expire_keys(now)
            if not ch.live:
                self._retire(name, ch)
        forgotten = []
        for name, (_, _, until) in self._retired.items():  # oldest first
            if until > now:
                break
            forgotten.append(name)
        for name in forgotten:
            del self._retired[name]
            self._changed(name)

    def is_live(self, channel: str) -> bool:
        return channel in self._channels

    def _open(self, name: str) -> _Channel:
        """The channel, brought (back) to life: a channel let go continues its epoch."""
        ch = self._channels.get(name)
        if ch is None:
            old = self._retired.pop(name, None)
            epoch, offset = old[:2] if old else (secrets.token_hex(4), 0)
            ch = _Channel(name, epoch, offset, self.retention.rule(name))
            self._channels[name] = ch
            if old is None:
                self._fresh(name)
            else:
                self._changed(name)
        return ch

    # -- what a persistent subclass writes down (nothing, here) --

    def _changed(self, name: str) -> None:
        """The channel's position, kept history, keys or liveness changed."""

    def _fresh(self, name: str) -> None:
        """The channel starts a new epoch: anything kept of an older one is gone."""

    def _appended(self, pub: Publication, key: str | None, expires: float) -> None:
        """``pub`` was published (kept in history when its rule keeps any), with its
        idempotency ``key`` remembered until ``expires`` (when not None)."""

    def _latest_changed(self, pub: Publication, forgotten: list[str]) -> None:
        """``pub`` is now the latest of its key; the keys ``forgotten`` are no longer kept."""

    def _release(self, name: str, ch: _Channel) -> None:
        if not ch.live:
            self._retire(name, ch)

    def _retire(self, name: str, ch: _Channel) -> None:
        if self._channels.get(name) is not ch:
            return
        del self._channels[name]
        if self.meta_ttl > 0:
            until = self.clock() + self.meta_ttl
        else:
            until = float("inf")
        self._retired[name] = (ch.epoch, ch.offset, until)
        self._changed(name)

    def _drop_oldest(self, ch: _Channel) -> None:
        size = kept_size(ch.history.popleft())
        ch.size -= size
        self.bytes -= size
        self._changed(ch.name)

    def _expire(self, ch: _Channel, now: float) -> None:
        """Drop what is older than the channel's rule keeps."""
        limit = ch.rule.cutoff(now)
        if limit is not None:
            history = ch.history
            while history and history[0].ts < limit:
                self._drop_oldest(ch)

    def _trim(self, ch: _Channel, now: float) -> None:
        """Apply the channel's rule (age, then count and bytes), oldest first."""
        self._expire(ch, now)
        rule = ch.rule
        while ch.history and rule.over(len(ch.history), ch.size):
            self._drop_oldest(ch)

    def _keep(self, ch: _Channel, pub: Publication) -> None:
        kept = pub.bare()
        ch.history.append(kept)
        size = kept_size(kept)
        ch.size += size
        self.bytes += size
        self._trim(ch, pub.ts)
        if self.history_bytes_total and self.bytes > self.history_bytes_total:
            self._evict(int(self.history_bytes_total * EVICT_TO))

    def _evict(self, target: int) -> None:
        """Drop the oldest publications of the largest channels until ``target`` bytes."""
        heap = [(-ch.size, name) for name, ch in self._channels.items() if ch.history]
        heapq.heapify(heap)
        while self.bytes > target and heap:
            _, name = heapq.heappop(heap)
            ch = self._channels[name]
            runner_up = -heap[0][0] if heap else 0
            while ch.history and ch.size >= runner_up and self.bytes > target:
                self._drop_oldest(ch)
            if ch.history:
                heapq.heappush(heap, (-ch.size, name))
            else:
                self._release(name, ch)
        log.info("history above %d bytes in total: evicted down to %d", target, self.bytes)

    # -- publish and read --

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
        ch = self._open(channel)
        remember = idempotency_key if self.idempotency_ttl > 0 else None
        now = 0.0
        if remember is not None:
            now = self.clock()
            ch.expire_keys(now)
            known = ch.keys.get(remember)
            if known is not None:
                return Duplicate(
                    channel, ch.epoch, known[0], payload, binary=binary, ts=ts, sender=sender,
                    sender_name=sender_name,
                )
        ch.offset += 1
        pub = Publication(
            channel, ch.epoch, ch.offset, payload, binary=binary, ts=ts, sender=sender,
            sender_name=sender_name, key=key,
        )
        if remember is not None:
            ch.keys[remember] = (ch.offset, now + self.idempotency_ttl)
            if len(ch.keys) > self.idempotency_keys:
                ch.keys.popitem(last=False)
        if ch.rule.keeps:
            self._keep(ch, pub)
        if pub.key is not None and self.latest_keys > 0:
            self._keep_latest(ch, pub)
        self._appended(pub, remember, now + self.idempotency_ttl)
        if self.handler is not None:
            self.handler.on_publication(pub)
        self._release(channel, ch)
        return pub

    def _keep_latest(self, ch: _Channel, pub: Publication) -> None:
        """Keep ``pub`` as its key's latest (the history's copy when it has one)."""
        assert pub.key is not None
        history = ch.history
        kept = history[-1] if history and history[-1].offset == pub.offset else pub.bare()
        latest = ch.latest
        latest[pub.key] = kept
        latest.move_to_end(pub.key)
        forgotten = []
        while len(latest) > self.latest_keys:
            forgotten.append(latest.popitem(last=False)[0])
        self._latest_changed(kept, forgotten)

    async def latest(self, channel: str, key: str) -> HistoryResult:
        ch = self._channels.get(channel)
        kept = ch.latest.get(key) if ch is not None else None
        return HistoryResult([kept.bare()] if kept is not None else [], self._position(channel))

    async def latest_by_prefix(
        self, channel: str, prefix: str, limit: int | None = None
    ) -> HistoryResult:
        ch = self._channels.get(channel)
        found = [p for k, p in ch.latest.items() if k.startswith(prefix)] if ch else []
        found.sort(key=lambda p: p.offset)
        kept = found[-limit:] if limit else found
        return HistoryResult([p.bare() for p in kept], self._position(channel))

    def _position(self, channel: str) -> Position:
        ch = self._channels.get(channel)
        if ch is not None:
            return Position(ch.epoch, ch.offset)
        old = self._retired.get(channel)
        return Position(old[0], old[1]) if old else recovery.BEFORE_START

    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        ch = self._channels.get(channel)
        if ch is not None:
            self._expire(ch, self.clock())
        pubs = list(ch.history) if ch is not None else []
        position = self._position(channel)
        if since is None:
            result = HistoryResult(pubs[-limit:] if limit else pubs, position)
        else:
            first = ch.first_kept if ch is not None else position.offset + 1
            result = recovery.history_result(pubs, since, position, first, limit)
        if ch is not None:
            self._release(channel, ch)
        result.publications = [p.bare() for p in result.publications]
        return result

    async def position(self, channel: str) -> Position:
        return self._position(channel)

    async def subscribe(self, channel: str) -> None:
        self._open(channel).subscribed = True

    async def unsubscribe(self, channel: str) -> None:
        ch = self._channels.get(channel)
        if ch is not None:
            ch.subscribed = False
            self._release(channel, ch)

    # -- presence --

    async def add_presence(self, channel: str, client: str, info: dict[str, Any]) -> None:
        self._open(channel).presence[client] = info
        if self.handler is not None:
            self.handler.on_join(channel, info)

    async def remove_presence(self, channel: str, client: str) -> None:
        ch = self._channels.get(channel)
        info = ch.presence.pop(client, None) if ch is not None else None
        if ch is not None:
            self._release(channel, ch)
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
