"""The one ``recovered`` rule of every broker (``brokers/recovery.py``), without a broker."""

from __future__ import annotations

from jupyter_realtime.brokers.recovery import (
    BEFORE_START,
    after_since,
    history_result,
    is_recovered,
)
from jupyter_realtime.protocol import Position, Publication


def pubs(*offsets: int, epoch: str = "e") -> list[Publication]:
    return [Publication("c", epoch, o, b"%d" % o) for o in offsets]


def test_recovered_when_every_offset_after_since_is_kept() -> None:
    position = Position("e", 10)
    assert is_recovered(Position("e", 4), position, first_kept=5)
    assert is_recovered(Position("e", 7), position, first_kept=5)
    assert not is_recovered(Position("e", 3), position, first_kept=5)


def test_seen_everything_is_recovered_even_with_no_history_left() -> None:
    position = Position("e", 10)
    assert is_recovered(Position("e", 10), position, first_kept=11)
    assert not is_recovered(Position("e", 9), position, first_kept=11)


def test_another_epoch_is_never_recovered() -> None:
    assert not is_recovered(Position("old", 10), Position("e", 10), first_kept=1)
    replay = after_since(pubs(1, 2), Position("old", 1), Position("e", 2))
    assert [p.offset for p in replay] == [1, 2]


def test_before_start_fits_any_epoch_while_offset_one_is_kept() -> None:
    assert is_recovered(BEFORE_START, BEFORE_START, first_kept=1)
    assert is_recovered(BEFORE_START, Position("e", 3), first_kept=1)
    assert not is_recovered(BEFORE_START, Position("e", 3), first_kept=2)
    assert not is_recovered(Position("", 2), Position("e", 3), first_kept=1)


def test_history_result_replays_after_since_up_to_the_limit() -> None:
    kept = pubs(3, 4, 5, 6)
    result = history_result(kept, Position("e", 3), Position("e", 6), 3, limit=2)
    assert [p.offset for p in result.publications] == [4, 5] and result.recovered
    result = history_result(kept, Position("e", 1), Position("e", 6), 3)
    assert [p.offset for p in result.publications] == [3, 4, 5, 6] and not result.recovered
