"""A channel's live feed: gap-free, duplicate-free delivery over an at-most-once source.

Public name: :class:`Feed`. A broker whose live source may drop or repeat messages (Redis
pub/sub around a reconnect) keeps one feed per channel with subscribers. The feed knows
the last offset it delivered: the next one is delivered at once, an older one is
dropped, and a newer one means something is missing, which the broker reads from the
history and hands to :meth:`Feed.apply` before it. No I/O here, so it is tested without
a server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from ..errors import ErrorCode, RealtimeError
from ..protocol import Position, Publication
from .recovery import BEFORE_START, NO_EPOCH

__all__ = ["NO_EPOCH", "Feed"]


class Feed:
    """Where live delivery of ``channel`` stands on this server.

    ``deliver`` gets each publication once, in offset order. ``gap`` is told the position
    after which publications were lost for good (trimmed from history, or a new epoch).
    ``lock`` serialises the reads that fill the feed; delivery itself is synchronous.
    """

    def __init__(
        self,
        channel: str,
        deliver: Callable[[Publication], None],
        gap: Callable[[str, Position], None],
    ) -> None:
        self.channel = channel
        self.deliver = deliver
        self.gap = gap
        self.epoch = NO_EPOCH
        self.last = 0
        self.synced = False
        self.lock = asyncio.Lock()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def position(self) -> Position:
        """The last publication delivered (or the channel's position when it started)."""
        return Position(self.epoch, self.last)

    def start(self, position: Position) -> None:
        """Live from ``position``: what comes after it will be delivered."""
        self.epoch, self.last = position
        self.synced = True
        if not self.ready.done():
            self.ready.set_result(None)

    def cancel(self, exc: BaseException) -> None:
        """Fail whoever waits for a feed that never started."""
        if not self.ready.done():
            self.ready.set_exception(exc)
            self.ready.exception()  # retrieved: the waiter, if any, re-raises it

    async def wait_ready(self, timeout: float) -> None:
        if self.synced:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.ready), timeout)
        except asyncio.TimeoutError:
            raise RealtimeError(
                ErrorCode.UNAVAILABLE, f"subscribing to {self.channel!r} timed out"
            ) from None

    def read_start(self, since: Position, limit: int | None) -> tuple[Position, int | None]:
        """Where to read so that one read answers ``since`` and fills the feed: the older
        of the two positions, and how many publications to read (None: all)."""
        if since.epoch != self.epoch:
            return Position(NO_EPOCH, 0), None
        start = min(since.offset, self.last)
        return Position(self.epoch, start), (limit + since.offset - start) if limit else None

    def apply(
        self,
        epoch: str,
        pubs: Iterable[Publication],
        newest: int | None = None,
        *,
        strict: bool = False,
    ) -> bool:
        """Deliver ``pubs`` (offset order, all of ``epoch``) that come after the feed.

        ``strict``: deliver nothing and return False when that would skip an offset or
        change the epoch (the caller then reads what is missing). Otherwise a skip is
        reported to ``gap`` and delivery goes on; ``newest``, given when the publications
        reach the channel's newest offset, moves the feed there even if some were lost.
        """
        pubs = list(pubs)
        if epoch != self.epoch and self.position == BEFORE_START:
            self.epoch = epoch  # the channel came to life: its first epoch loses nothing
        if epoch != self.epoch:
            if strict:
                return False
            lost = self.synced
            self.epoch, self.last = epoch, 0
            if lost:
                self.gap(self.channel, self.position)
        if strict and any(p.offset > self.last + 1 + i for i, p in enumerate(self._new(pubs))):
            return False
        for pub in self._new(pubs):
            if pub.offset != self.last + 1:
                self.gap(self.channel, self.position)
            self.last = pub.offset
            self.deliver(pub)
        if newest is not None and newest > self.last:
            self.gap(self.channel, self.position)
            self.last = newest
        return True

    def _new(self, pubs: list[Publication]) -> list[Publication]:
        return [p for p in pubs if p.offset > self.last]
