"""The Broker interface: history, offsets, presence and live delivery of channels.

Public names: :class:`Broker`, :class:`BrokerEventHandler`, :class:`HistoryResult`,
:class:`ChannelInfo`, :class:`Duplicate`, and the storage of shared documents beside the
channels: :class:`DocumentStorage`, :class:`StoredDocument`, :class:`CorruptDocument`.

A broker does I/O only. Fan-out to connections, recovery merge and presence events for
clients are written once, in the hub, which registers itself as the broker's event
handler (the broker never imports the hub). Guarantees every broker gives:

* **Ordering.** Per channel, ``on_publication`` is called in offset order, each
  publication exactly once per server, on the event loop thread. ``position`` and
  ``history(since=...)`` of a channel this server follows never return an offset that
  ``on_publication`` will deliver later (the hub's live path does not filter offsets).
* **Gaps.** A broker that loses publications it should have delivered live calls
  ``on_gap(channel, position)`` with the position delivery continues from.
* **Atomicity.** A publication is appended to the history and given its offset in one
  step: once ``publish`` returns, ``history`` returns it and no other publication can
  take its offset.
* **Epochs.** A channel's epoch changes only when its history was lost; offsets start
  at 1 in a new epoch.
* **Reads create nothing.** ``history``, ``position`` and ``presence`` of a channel that
  does not exist leave no state behind; such a channel reports the position
  :data:`~.recovery.BEFORE_START` (empty epoch, offset 0), and ``recovered`` is computed
  by the one rule of :mod:`.recovery`.
* **Lifecycle.** A channel with no subscribers, no presence and no history is let go;
  its epoch and offset are kept for a documented time, so a resume is told the truth.
* **Idempotency.** A publish with an ``idempotency_key`` the channel has seen within
  ``idempotency_ttl`` seconds stores and delivers nothing and returns a :class:`Duplicate`
  holding the first one's epoch and offset. Checking the key and storing the publication
  are one step, so two publishes racing with one key (on two servers) store it once. A
  channel remembers at most ``idempotency_keys`` keys (the oldest go first).
* **Usage counters.** ``add_usage`` adds to a counter of the current time window unless
  that would pass a limit, in one step: in this process by default, in the shared store for
  brokers that several servers share (Redis), so that a per-user limit holds across them.
* **Keys (compaction).** A publish with a ``key`` is an ordinary publication (offset,
  history, delivery) that the channel also keeps as the latest of that key, beyond
  ``history_size`` and ``history_ttl``, as Kafka's log compaction does: ``latest`` returns it
  however many publications came after it. A channel keeps the latest of at most
  ``latest_keys`` keys; beyond it the key published longest ago is forgotten. Keyed values
  belong to the channel's epoch: a new epoch starts without them.
* **Failure.** An operation that cannot reach the broker's store raises
  ``RealtimeError(unavailable)``; nothing is acknowledged that was not stored.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ErrorCode, RealtimeError
from ..protocol import Position, Publication
from .retention import Retention, Rule

__all__ = [
    "Broker",
    "BrokerEventHandler",
    "ChannelInfo",
    "CorruptDocument",
    "DocumentStorage",
    "Duplicate",
    "HistoryResult",
    "StoredDocument",
]


class BrokerEventHandler(Protocol):
    """What a broker calls back (the hub). Calls never block and never raise."""

    def on_publication(self, pub: Publication) -> None: ...

    def on_join(self, channel: str, info: dict[str, Any]) -> None: ...

    def on_leave(self, channel: str, info: dict[str, Any]) -> None: ...

    def on_gap(self, channel: str, position: Position) -> None: ...


class Duplicate(Publication):
    """What ``publish`` returns for a known idempotency key: the epoch and offset the key
    was first stored at, with the payload of the repeat (nothing was stored or delivered)."""

    __slots__ = ()


@dataclass
class HistoryResult:
    """Publications oldest first, the channel's newest position, and whether the history
    reached back to the requested ``since`` (always True without ``since``)."""

    publications: list[Publication]
    position: Position
    recovered: bool = True


@dataclass(frozen=True)
class StoredDocument:
    """A shared document's merged state (a Yjs update) and the position of its channel
    it includes."""

    epoch: str
    offset: int
    state: bytes


class CorruptDocument(Exception):
    """A stored document that cannot be read back (its message says where it is)."""


class DocumentStorage(abc.ABC):
    """Where a broker keeps shared documents durably, beside its channels (the documents
    service reads and writes them; ``docs/shared-cells.md``).

    * ``load`` creates nothing; it raises :class:`CorruptDocument` for a stored document
      that cannot be read, ``RealtimeError(unavailable)`` when the store is unreachable.
    * ``save`` replaces the stored document atomically (a failed or interrupted save
      leaves the previous one whole) and never replaces a document of a newer position
      of the same epoch; it returns once the document is durable.
    * Names are channel names of any legal length.
    """

    @abc.abstractmethod
    async def load(self, name: str) -> StoredDocument | None: ...

    @abc.abstractmethod
    async def save(self, name: str, document: StoredDocument) -> None: ...

    @abc.abstractmethod
    def where(self, name: str) -> str:
        """Where the document ``name`` is kept, for log lines."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the storage holds of its own (not the broker's connection)."""


@dataclass
class ChannelInfo:
    channel: str
    position: Position
    subscribers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Broker(abc.ABC):
    """Stores channels and delivers their publications to ``handler``.

    Parameters are the ones :class:`jupyter_realtime.app.RealtimeApp` configures:
    ``retention`` (how much history each channel keeps, :mod:`.retention`); without it,
    one rule for every channel from ``history_size`` (publications kept per channel; None:
    no bound by count, 0: none), ``history_ttl`` (seconds a publication stays in history;
    0 keeps it until pushed out by size) and ``history_bytes`` (bytes per channel; 0: no
    bound); ``url`` (the
    broker's address, for brokers that have one), ``idempotency_ttl`` (seconds a channel
    remembers a publication's idempotency key; 0: not at all) and ``idempotency_keys`` (keys
    remembered per channel at most), ``latest_keys`` (keys whose latest publication a
    channel keeps beyond its history; 0: none).
    """

    def __init__(
        self,
        *,
        history_size: int | None = None,
        history_ttl: float = 86400.0,
        history_bytes: int = 0,
        retention: Retention | None = None,
        url: str = "",
        idempotency_ttl: float = 600.0,
        idempotency_keys: int = 10_000,
        latest_keys: int = 1000,
    ) -> None:
        if retention is None:
            retention = Retention(
                Rule(bytes=history_bytes or None, age=history_ttl or None, count=history_size)
            )
        self.retention = retention
        # the longest a publication stays (0: forever), for what outlives history
        self.history_ttl = retention.longest_age or 0.0
        self.url = url
        self.idempotency_ttl = idempotency_ttl
        self.idempotency_keys = idempotency_keys
        self.latest_keys = latest_keys
        self.handler: BrokerEventHandler | None = None
        self._usage: dict[str, tuple[int, int]] = {}  # key -> (window index, total)

    def set_handler(self, handler: BrokerEventHandler) -> None:
        self.handler = handler

    def is_live(self, channel: str) -> bool:
        """Whether this server holds state of ``channel`` (subscribers, presence or
        history it keeps): what ``max_channels`` counts. Never does I/O."""
        return True

    async def add_usage(self, key: str, amount: int, limit: int, window: float) -> int | None:
        """Add ``amount`` to the counter ``key`` of the current window (``window`` seconds,
        aligned to the epoch clock) unless the total would pass ``limit``: the new total, or
        None when nothing was added. One step. Counted in this process here; a broker that
        several servers share counts in its shared store."""
        index = int(time.time() // window)
        if len(self._usage) > 100_000:  # forget the counters of past windows
            self._usage = {k: v for k, v in self._usage.items() if v[0] == index}
        seen, total = self._usage.get(key, (index, 0))
        total = total if seen == index else 0
        if total + amount > limit:
            return None
        self._usage[key] = (index, total + amount)
        return total + amount

    def document_storage(self) -> DocumentStorage | None:
        """The storage of shared documents in this broker's durable store (the SQLite
        file, Redis), or None when it has none (the in-memory broker)."""
        return None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; raise ``RealtimeError(unavailable)`` naming the address on failure."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect and stop delivering."""

    @abc.abstractmethod
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
        """Append to the channel's history with the next offset and deliver it; with an
        ``idempotency_key`` the channel remembers, a :class:`Duplicate` instead. With a
        ``key`` (validated by the caller), also keep it as that key's latest."""

    @abc.abstractmethod
    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        """Without ``since``: the newest ``limit`` publications. With ``since``: the first
        ``limit`` after it (all of them when ``limit`` is None), and whether the history
        still reached back to it in the same epoch."""

    async def latest(self, channel: str, key: str) -> HistoryResult:
        """The latest publication of ``key`` in the channel (no publication when it has
        none), with the channel's position. Creates nothing."""
        raise RealtimeError(
            ErrorCode.BAD_REQUEST, f"{type(self).__name__} keeps no keyed publications"
        )

    async def latest_by_prefix(
        self, channel: str, prefix: str, limit: int | None = None
    ) -> HistoryResult:
        """The latest publication of each key starting with ``prefix``, oldest first (the
        ``limit`` published most recently), with the channel's position. Creates nothing."""
        raise RealtimeError(
            ErrorCode.BAD_REQUEST, f"{type(self).__name__} keeps no keyed publications"
        )

    @abc.abstractmethod
    async def position(self, channel: str) -> Position:
        """The channel's epoch and newest offset (0 when empty)."""

    async def subscribe(self, channel: str) -> None:  # noqa: B027 - optional hook
        """This server now has subscribers of ``channel``: deliver its publications."""

    async def unsubscribe(self, channel: str) -> None:  # noqa: B027 - optional hook
        """This server has no more subscribers of ``channel``."""

    @abc.abstractmethod
    async def add_presence(self, channel: str, client: str, info: dict[str, Any]) -> None:
        """Add a client to the channel's presence and announce its join."""

    @abc.abstractmethod
    async def remove_presence(self, channel: str, client: str) -> None:
        """Remove a client and announce its leave (no-op when absent)."""

    @abc.abstractmethod
    async def presence(self, channel: str) -> list[dict[str, Any]]:
        """The clients present in the channel."""

    @abc.abstractmethod
    async def channels(self) -> list[ChannelInfo]:
        """Every channel that exists: with history, presence (or, on this server,
        subscribers)."""
