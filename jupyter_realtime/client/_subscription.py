"""A channel as subscribed on the server, shared by the client's local listeners.

Public names: :class:`Listener`, :class:`ServerSubscription`.

It keeps the last position delivered, so that a resume asks for what came after it and
drops what a replay repeats; it holds a replay until the subscribe reply tells whether
it is complete, so that listeners learn of a gap before the publications after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import anyio

from ..protocol import Position
from ._errors import GapError
from ._message import Message

__all__ = ["Listener", "ServerSubscription"]

log = logging.getLogger("jupyter_realtime.client")


class Listener(Protocol):
    """Receives a channel's traffic, in the client's event loop; must not block."""

    def message(self, msg: Message) -> None: ...

    def gap(self, error: GapError) -> None: ...

    def end(self, error: BaseException | None) -> None:
        """The subscription is over: None after ``unsubscribe``/close, else why."""


class ServerSubscription:
    def __init__(self, channel: str, since: Position | None, presence: bool) -> None:
        self.channel = channel
        self.position = since  # the last position delivered (or asked for)
        self.presence = presence
        self.listeners: list[Listener] = []
        self.confirmed = anyio.Event()
        self.error: BaseException | None = None
        # while resuming: the replay, held until the reply says whether it is complete
        self.replay: list[Message] | None = None

    def deliver(self, msg: Message) -> None:
        if self.replay is not None:
            self.replay.append(msg)
            return
        pos = self.position
        if pos is not None and msg.epoch == pos.epoch and msg.offset <= pos.offset:
            return  # already delivered before a reconnection
        self.position = Position(msg.epoch, msg.offset)
        for listener in list(self.listeners):
            _safely(listener.message, msg)

    def confirm(self, newest: Position, gap: GapError | None) -> None:
        """The subscribe reply came: report a gap first, then deliver the replay."""
        replay, self.replay = self.replay or [], None
        if gap is not None:
            for listener in list(self.listeners):
                _safely(listener.gap, gap)
        for msg in replay:
            self.deliver(msg)
        pos = self.position
        if pos is None or pos.epoch != newest.epoch or pos.offset < newest.offset:
            self.position = newest
        self.confirmed.set()

    def lost(self, position: Position) -> None:
        """The server says publications were lost while live (a ``gap`` event)."""
        gap = GapError(self.channel, self.position, position)
        pos = self.position
        if pos is None or pos.epoch != position.epoch or pos.offset < position.offset:
            self.position = position
        for listener in list(self.listeners):
            _safely(listener.gap, gap)

    def end(self, error: BaseException | None) -> None:
        self.error = error
        self.confirmed.set()
        for listener in list(self.listeners):
            _safely(listener.end, error)
        self.listeners.clear()


def _safely(fn: Callable[[Any], None], arg: Any) -> None:
    try:
        fn(arg)
    except Exception:
        log.exception("a listener of jupyter_realtime failed")
