"""The live feed's ordering rules (``brokers/feed.py``), without a server."""

from __future__ import annotations

from jupyter_realtime.brokers.feed import NO_EPOCH, Feed
from jupyter_realtime.protocol import Position, Publication


def pub(offset: int, epoch: str = "e1") -> Publication:
    return Publication("c", epoch, offset, b"%d" % offset)


def make_feed(epoch: str = "e1", last: int = 3) -> tuple[Feed, list[int], list[Position]]:
    delivered: list[int] = []
    gaps: list[Position] = []
    feed = Feed("c", lambda p: delivered.append(p.offset), lambda _c, pos: gaps.append(pos))
    feed.start(Position(epoch, last))
    return feed, delivered, gaps


async def test_next_is_delivered_and_older_is_dropped():
    feed, delivered, gaps = make_feed()
    assert feed.apply("e1", [pub(4)], strict=True)
    assert feed.apply("e1", [pub(2), pub(4)], strict=True)
    assert feed.apply("e1", [pub(5)], strict=True)
    assert delivered == [4, 5] and gaps == [] and feed.position == Position("e1", 5)


async def test_strict_refuses_a_skip_or_a_new_epoch():
    feed, delivered, _ = make_feed()
    assert not feed.apply("e1", [pub(6)], strict=True)
    assert not feed.apply("e2", [pub(1, "e2")], strict=True)
    assert delivered == [] and feed.position == Position("e1", 3)


async def test_a_fill_delivers_the_missing_then_the_rest_once():
    feed, delivered, gaps = make_feed()
    feed.apply("e1", [pub(4), pub(5), pub(6)], newest=6)
    feed.apply("e1", [pub(6)], strict=True)
    assert delivered == [4, 5, 6] and gaps == []


async def test_what_history_lost_is_reported_once_and_skipped():
    feed, delivered, gaps = make_feed()
    feed.apply("e1", [pub(7), pub(8)], newest=9)
    assert delivered == [7, 8]
    assert gaps == [Position("e1", 3), Position("e1", 8)]
    assert feed.position == Position("e1", 9)


async def test_a_new_epoch_starts_over_with_a_gap():
    feed, delivered, gaps = make_feed()
    feed.apply("e2", [pub(1, "e2"), pub(2, "e2")], newest=2)
    assert delivered == [1, 2] and gaps == [Position("e2", 0)]
    assert feed.position == Position("e2", 2)


async def test_read_start_covers_both_the_feed_and_since():
    feed, _, _ = make_feed(last=10)
    assert feed.read_start(Position("e1", 4), 5) == (Position("e1", 4), 5)
    assert feed.read_start(Position("e1", 12), 5) == (Position("e1", 10), 7)
    assert feed.read_start(Position("e1", 12), None) == (Position("e1", 10), None)
    assert feed.read_start(Position("old", 12), 5) == (Position(NO_EPOCH, 0), None)


async def test_waiters_of_a_feed_that_never_started_fail():
    delivered: list[int] = []
    feed = Feed("c", lambda p: delivered.append(p.offset), lambda _c, _p: None)
    feed.cancel(RuntimeError("lost"))
    try:
        await feed.wait_ready(1.0)
    except RuntimeError as exc:
        assert str(exc) == "lost"
    else:
        raise AssertionError("wait_ready should fail")


async def test_a_feed_started_before_its_channel_existed_takes_its_first_epoch_quietly():
    feed, delivered, gaps = make_feed(NO_EPOCH, 0)
    assert feed.apply("e1", [pub(1)], strict=True)
    assert delivered == [1] and gaps == [] and feed.position == Position("e1", 1)
    late, delivered, gaps = make_feed(NO_EPOCH, 0)
    assert not late.apply("e1", [pub(3)], strict=True)  # 1 and 2 must be read first
    late.apply("e1", [pub(1), pub(2), pub(3)], 3)
    assert delivered == [1, 2, 3] and gaps == []
