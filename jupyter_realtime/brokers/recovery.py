"""Whether a resume reaches back: the one ``recovered`` rule of every broker.

Public names: :data:`NO_EPOCH`, :data:`BEFORE_START`, :func:`is_recovered`,
:func:`after_since`, :func:`history_result`. Pure functions, no I/O: tested without a
broker (``tests/test_recovery.py``).

A broker knows three things about a channel when a client resumes from ``since``: its
position (epoch and newest offset) and the oldest offset its history still keeps. The
client lost nothing exactly when every offset after ``since`` up to the newest is still
kept, in the same epoch.

A channel that does not exist (never used, or let go and forgotten) reports the position
:data:`BEFORE_START`: the empty epoch, offset 0. It means "before the channel's first
publication", whatever epoch the channel gets later; so a client that read it and
subscribes with it once the channel exists is told ``recovered: true`` as long as
offset 1 of the current epoch is still kept (``docs/protocol.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..protocol import Position, Publication
from .base import HistoryResult

__all__ = ["BEFORE_START", "NO_EPOCH", "after_since", "history_result", "is_recovered"]

NO_EPOCH = ""  # the epoch of a channel that does not exist
BEFORE_START = Position(NO_EPOCH, 0)


def _same_epoch(since: Position, position: Position) -> bool:
    """``since`` is a place in ``position``'s epoch (the start of any epoch counts)."""
    return since.epoch == position.epoch or since == BEFORE_START


def is_recovered(since: Position, position: Position, first_kept: int) -> bool:
    """True when nothing after ``since`` is lost.

    ``position``: the channel's epoch and newest offset. ``first_kept``: the oldest offset
    still in its history (``position.offset + 1`` when the history is empty).
    """
    if not _same_epoch(since, position):
        return False
    return since.offset >= first_kept - 1


def after_since(
    pubs: Sequence[Publication], since: Position, position: Position
) -> list[Publication]:
    """The publications (oldest first, of ``position``'s epoch) a resume from ``since``
    replays: those after it, or all kept when ``since`` is from another epoch."""
    if not _same_epoch(since, position):
        return list(pubs)
    return [p for p in pubs if p.offset > since.offset]


def history_result(
    pubs: Sequence[Publication],
    since: Position,
    position: Position,
    first_kept: int,
    limit: int | None = None,
) -> HistoryResult:
    """The answer to ``history(since=..., limit=...)`` from the kept ``pubs``."""
    after = after_since(pubs, since, position)
    return HistoryResult(
        after[:limit] if limit else after, position, is_recovered(since, position, first_kept)
    )
