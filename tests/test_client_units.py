"""Pure logic of the client, without a server: resume merge, frames, error codes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jupyter_realtime.client import GapError, Message, Position
from jupyter_realtime.client._errors import (
    ConnectionLost,
    Forbidden,
    Internal,
    NotFound,
    TooLarge,
    close_error,
    error_for,
)
from jupyter_realtime.client._outbox import encode
from jupyter_realtime.client._subscription import ServerSubscription
from jupyter_realtime.protocol import unpack_binary


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def message(self, msg: Message) -> None:
        self.events.append(msg.offset)

    def gap(self, error: GapError) -> None:
        self.events.append(("gap", error.last, error.position))

    def end(self, error: BaseException | None) -> None:
        self.events.append(("end", error))


def msg(offset: int, epoch: str = "e") -> Message:
    return Message("c", epoch, offset, offset)


async def test_resume_drops_what_was_delivered_already() -> None:
    sub, rec = ServerSubscription("c", None, False), Recorder()
    sub.listeners.append(rec)
    sub.confirm(Position("e", 2), None)
    for o in (3, 4):
        sub.deliver(msg(o))
    sub.replay = []  # resubscribed with since=(e, 4)
    for o in (4, 5, 6):
        sub.deliver(msg(o))
    assert rec.events == [3, 4]  # the replay waits for the reply
    sub.confirm(Position("e", 6), None)
    sub.deliver(msg(6))
    assert rec.events == [3, 4, 5, 6]
    assert sub.position == Position("e", 6)


async def test_a_gap_comes_before_the_replay_and_a_new_epoch_is_taken() -> None:
    sub, rec = ServerSubscription("c", Position("old", 9), False), Recorder()
    sub.listeners.append(rec)
    sub.replay = []
    sub.deliver(msg(1, "new"))
    gap = GapError("c", Position("old", 9), Position("new", 1))
    sub.confirm(Position("new", 1), gap)
    assert rec.events == [("gap", Position("old", 9), Position("new", 1)), 1]
    assert sub.position == Position("new", 1) and sub.confirmed.is_set()
    sub.end(None)
    assert rec.events[-1] == ("end", None) and sub.listeners == []


async def test_a_gap_event_while_live_is_reported_and_delivery_goes_on() -> None:
    sub, rec = ServerSubscription("c", None, False), Recorder()
    sub.listeners.append(rec)
    sub.confirm(Position("e", 1), None)
    sub.lost(Position("f", 0))  # the broker lost its data: a new epoch
    sub.deliver(msg(1, "f"))
    assert rec.events == [("gap", Position("e", 1), Position("f", 0)), 1]


def test_commands_are_text_or_binary_frames() -> None:
    text = encode(7, "publish", {"channel": "c", "data": {"x": 1}})
    assert orjson.loads(text) == {"id": 7, "op": "publish", "channel": "c", "data": {"x": 1}}
    assert isinstance(text, str)
    header, data = unpack_binary(encode(8, "publish", {"channel": "c", "data": b"\x00raw"}))
    assert (header, data) == ({"id": 8, "op": "publish", "channel": "c"}, b"\x00raw")
    assert orjson.loads(encode(9, "ping", {})) == {"id": 9, "op": "ping"}
    with pytest.raises(Exception, match="not JSON serializable"):
        encode(10, "publish", {"channel": "c", "data": object()})


def test_error_codes_become_typed_exceptions() -> None:
    assert type(error_for("too_large", "big")) is TooLarge
    assert error_for("too_large", "big").code.value == "too_large"
    assert type(error_for("teapot", "?")) is Internal
    assert type(close_error(4500, "forbidden")) is Forbidden
    assert type(close_error(4501, "transport_disabled")) is NotFound
    assert type(close_error(4000, "slow_consumer")) is ConnectionLost


def test_messages_round_trip_to_frames() -> None:
    frame = {
        "channel": "c",
        "epoch": "e",
        "offset": 1,
        "ts": 1.5,
        "sender": "a",
        "data_b64": "AAE=",
    }
    m = Message.from_frame(frame)
    assert m.data == b"\x00\x01" and m.binary and m.position == Position("e", 1)
    assert m.to_frame() == frame
