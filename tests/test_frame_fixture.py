"""The server frames of ``tests/fixtures/server_frames.json`` are what the server builds.

The browser client's tests read the same file (``labextension/src/test/frames.test.ts``) and
check that it classifies each frame and reads its fields, so the two sides of the wire
cannot drift apart unnoticed. Frames come from the server's own code: the protocol's
builders, a real :class:`Session` over a memory hub (replies, presence events, the
acknowledgement of an announced subscribe), and a real server for the HTTP session's
first frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from test_session_downlink import lines

from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.errors import SLOW_CONSUMER, Disconnect, ErrorCode, RealtimeError
from jupyter_realtime.hub import Hub, SubscribeResult
from jupyter_realtime.protocol import (
    Position,
    Publication,
    error_reply,
    gap_event,
    reply,
    subscribed_event,
)
from jupyter_realtime.session import Identity, Session

FIXTURE = Path(__file__).parent / "fixtures" / "server_frames.json"
FRAMES = {f["name"]: f for f in json.loads(FIXTURE.read_text())["frames"]}
TS = 1764160000.5
LOSS = b'{"loss":0.31}'


def wire(frame: Any) -> Any:
    """A frame as a client decodes it."""
    return orjson.loads(frame if isinstance(frame, bytes) else orjson.dumps(frame))


class Recorder:
    """A transport that keeps what the session writes; ``announcing`` as an HTTP session."""

    kind = "fixture"

    def __init__(self, announcing: bool) -> None:
        self.announcing = announcing
        self.frames: list[Any] = []

    def write_publication(self, pub: Publication) -> None:
        self.frames.append(wire(pub.json()))

    def write_frame(self, frame: dict[str, Any]) -> None:
        self.frames.append(wire(frame))

    def announce(self, channel: str, result: SubscribeResult) -> bool:
        if self.announcing:
            self.frames.extend(wire(f) for f in result.events(channel))
        return self.announcing

    def close(self, disconnect: Disconnect) -> None:
        pass


def expected(name: str) -> Any:
    return FRAMES[name]["frame"]


def test_every_kind_of_frame_is_in_the_fixture() -> None:
    kinds = {(f["kind"], f["frame"].get("event")) for f in FRAMES.values()}
    events = {"join", "leave", "gap", "subscribed", "session", "disconnect"}
    assert {event for kind, event in kinds if kind == "event"} == events
    assert {kind for kind, _ in kinds} == {"publication", "reply", "event"}


def test_frames_of_the_protocol_builders() -> None:
    pub = Publication("news", "e1", 3, LOSS, ts=TS, sender="alice")
    binary = Publication("news", "e1", 4, b"\x01\x02\x03\xff", binary=True, ts=TS, sender="alice")
    lost = Position("e2", 0)
    built = {
        "publication": wire(pub.json()),
        "binary publication": wire(binary.json()),
        "subscribe reply": wire(reply(1, SubscribeResult(Position("e1", 4), True).to_dict())),
        "error reply": wire(
            error_reply(3, RealtimeError(ErrorCode.FORBIDDEN, "you may not publish to 'news'"))
        ),
        "gap": wire(gap_event("news", lost)),
        "subscribed": wire(subscribed_event("news", lost, False)),
        "disconnect": wire(SLOW_CONSUMER.to_event()),
    }
    for name, frame in built.items():
        assert frame == expected(name), name
    assert [wire(f) for f in SubscribeResult(lost, False).events("news")] == [
        expected("gap"),
        expected("subscribed"),
    ]


async def test_frames_of_a_session() -> None:
    hub = Hub(MemoryBroker())
    watcher = Session(hub, Recorder(announcing=False), Identity("bob"))
    await watcher.handle_text(b'{"id":1,"op":"subscribe","channel":"news"}')
    transport = Recorder(announcing=True)
    session = Session(hub, transport, Identity("alice", display_name="Alice"))
    session.id = "c1"
    ack = await session.handle_text(b'{"id":7,"op":"subscribe","channel":"news","presence":true}')
    assert ack == expected("subscribe acknowledgement")
    assert next(f for f in transport.frames if f.get("event") == "join") == expected("join")
    for n in range(4):
        await hub.publish("news", LOSS if n == 2 else b"0", sender="alice")
    got = await session.handle_text(
        orjson.dumps({"id": 2, "op": "history", "channel": "news", "limit": 1,
                      "since": {"epoch": hub_epoch(transport), "offset": 2}})
    )  # fmt: skip
    assert got is not None
    got = wire(got)
    epoch = got["result"]["epoch"]
    for p in got["result"]["publications"]:
        assert p.pop("ts") > 0
        p["ts"] = TS
    assert json.loads(json.dumps(got).replace(epoch, "e1")) == expected("history reply")
    await session.handle_text(b'{"id":8,"op":"unsubscribe","channel":"news"}')
    assert watcher.transport.frames[-1] == expected("leave")  # type: ignore[attr-defined]
    session.close()
    watcher.close()


def hub_epoch(transport: Recorder) -> str:
    """The epoch of the channel, from the subscribed event the session announced."""
    return str(next(f for f in transport.frames if f.get("event") == "subscribed")["epoch"])


@pytest.mark.parametrize("transport", ["sse", "stream"])
async def test_an_http_sessions_first_frame(server: Any, transport: str) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        url = server.http(f"realtime/{transport}") + "?session=1"
        frames = lines(http, url, transport == "sse")
        first = await anext(frames)
        await frames.aclose()
    assert isinstance(first["session"], str) and first["session"]
    assert {**first, "session": "S"} == expected("session")
