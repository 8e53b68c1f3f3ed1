"""What a subscriber missed, in pieces that fit an outbox: replays and history pages.

Public names: :class:`HistoryPage`, :func:`history_page`, :func:`replay`, :class:`Serial`.
The hub uses them; like the hub, this module knows the broker only through
``brokers/base.py``.

A frame never exceeds what an outbox may hold, and an answer or a replay may be far larger
than one outbox (``docs/protocol.md``, "No reply is too big to send"): a ``history``
answer is cut by bytes and says ``more``; a replay is read from the broker
``REPLAY_READ`` publications at a time and delivered one publication at a time, waiting
for the subscriber's outbox to have room in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from .brokers.base import Broker, HistoryResult
from .protocol import Position, Publication, text_size

__all__ = ["HistoryPage", "Serial", "history_page", "replay"]

REPLAY_READ = 100  # publications read from the broker at once during a replay


class Receiver(Protocol):
    def deliver(self, pub: Publication) -> None: ...

    async def wait_writable(self) -> None: ...


@dataclass
class HistoryPage:
    """A ``history`` answer: at most ``page_bytes`` of publications, oldest first;
    ``more`` when more were asked for (the client continues ``since`` the last one)."""

    publications: list[Publication]
    position: Position
    recovered: bool
    more: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "publications": [p.to_frame() for p in self.publications],
            "epoch": self.position.epoch,
            "offset": self.position.offset,
            "recovered": self.recovered,
            "more": self.more,
        }


def history_page(result: HistoryResult, page_bytes: int) -> HistoryPage:
    """``result`` cut to about ``page_bytes`` as text frames (at least one publication)."""
    kept: list[Publication] = []
    size = 0
    for pub in result.publications:
        size += text_size(pub)
        if kept and size > page_bytes:
            break
        kept.append(pub)
    more = len(kept) < len(result.publications)
    return HistoryPage(kept, result.position, result.recovered, more)


async def replay(
    broker: Broker,
    channel: str,
    since: Position | None,
    receiver: Receiver,
    *,
    max_recover: int,
    check: Callable[[], None],
) -> tuple[Position, bool, int]:
    """Deliver to ``receiver`` what ``channel`` published after ``since``.

    Returns the channel's position when the replay began, whether the replay reached
    back to ``since`` (False as well when more than ``max_recover`` publications were
    missed: only the newest ``max_recover`` are replayed), and the last offset delivered.
    ``check`` raises when the subscription was cancelled meanwhile; it is called after
    every read from the broker.
    """
    if since is None:
        position = await broker.position(channel)
        check()
        return position, True, position.offset
    page = await broker.history(channel, since=since, limit=REPLAY_READ)
    position, recovered = page.position, page.recovered
    start = since if since.epoch == position.epoch else Position(position.epoch, 0)
    if position.offset - start.offset > max_recover:
        start, recovered = Position(position.epoch, position.offset - max_recover), False
        page = await broker.history(channel, since=start, limit=REPLAY_READ)
    last = start.offset
    while True:
        check()
        for pub in page.publications:
            if pub.epoch == position.epoch:
                if pub.offset <= last:
                    continue
                last = pub.offset
            receiver.deliver(pub)
            await receiver.wait_writable()
        if len(page.publications) < REPLAY_READ or last >= position.offset:
            return position, recovered, last
        page = await broker.history(
            channel, since=Position(position.epoch, last), limit=REPLAY_READ
        )
        if page.position.epoch != position.epoch:
            return position, False, last  # lost meanwhile: the live buffer has the new epoch
        recovered = recovered and page.recovered


class Serial:
    """Runs the calls given for one key one after the other, in the order given."""

    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Future[None]] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[None]]) -> None:
        """Await ``call()`` once every earlier call of ``key`` has ended (even failed)."""
        previous = self._tails.get(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = done
        try:
            if previous is not None:
                await asyncio.shield(previous)
            await call()
        finally:
            done.set_result(None)
            if self._tails.get(key) is done:
                del self._tails[key]
