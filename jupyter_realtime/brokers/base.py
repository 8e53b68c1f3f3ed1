"""The Broker interface: history, offsets, presence and live delivery of channels.

Public names: :class:`Broker`, :class:`BrokerEventHandler`, :class:`HistoryResult`,
:class:`ChannelInfo`, :class:`Duplicate`.

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
* **Failure.** An operation that cannot reach the broker's store raises
  ``RealtimeError(unavailable)``; nothing is acknowledged that was not stored.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocol import Position, Publication
from .retention import Retention, Rule

__all__ = ["Broker", "BrokerEventHandler", "ChannelInfo", "Duplicate", "HistoryResult"]


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
    remembered per channel at most).
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
        self.handler: BrokerEventHandler | None = None

    def set_handler(self, handler: BrokerEventHandler) -> None:
        self.handler = handler

    def is_live(self, channel: str) -> bool:
        """Whether this server holds state of ``channel`` (subscribers, presence or
        history it keeps): what ``max_channels`` counts. Never does I/O."""
        return True

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
    ) -> Publication:
        """Append to the channel's history with the next offset and deliver it; with an
        ``idempotency_key`` the channel remembers, a :class:`Duplicate` instead."""

    @abc.abstractmethod
    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        """Without ``since``: the newest ``limit`` publications. With ``since``: the first
        ``limit`` after it (all of them when ``limit`` is None), and whether the history
        still reached back to it in the same epoch."""

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
