"""A session without Tornado: unexpected errors, all-or-nothing subscribe, the outbox
check, and the one admission of publications."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from test_hub import FailingPresenceBroker
from traitlets import TraitError

from jupyter_realtime.brokers.base import HistoryResult
from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.errors import RealtimeError
from jupyter_realtime.hub import Hub, SubscribeResult
from jupyter_realtime.limits import Limits
from jupyter_realtime.policy import Policy
from jupyter_realtime.protocol import Position, Publication
from jupyter_realtime.session import Identity, Session, admit_publication
from jupyter_realtime.transports.context import RealtimeContext


class ListTransport:
    kind = "test"

    def __init__(self) -> None:
        self.frames: list[Any] = []

    def write_publication(self, pub: Publication) -> None:
        self.frames.append(pub)

    def write_frame(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)

    def announce(self, channel: str, result: SubscribeResult) -> bool:
        return False

    async def wait_writable(self) -> None:
        pass

    def close(self, disconnect: Any) -> None:
        self.frames.append(disconnect)


class BuggyBroker(MemoryBroker):
    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        raise KeyError("secret-internal-detail")


async def test_an_unexpected_error_is_logged_and_answered_as_internal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = Session(Hub(BuggyBroker()), ListTransport(), Identity("alice"))
    with caplog.at_level(logging.ERROR, logger="jupyter_realtime.session"):
        reply = await session.handle_text('{"id": 7, "op": "history", "channel": "c"}')
    assert reply is not None and reply["id"] == 7
    assert reply["error"]["code"] == "internal"
    assert "secret-internal-detail" not in reply["error"]["message"]
    assert "KeyError" not in reply["error"]["message"]
    (record,) = [r for r in caplog.records if r.name == "jupyter_realtime.session"]
    assert record.exc_info is not None and "secret-internal-detail" in caplog.text
    assert (await session.handle_text('{"id": 8, "op": "ping"}')) == {"id": 8, "result": {}}


async def test_a_failed_presence_subscribe_can_be_retried() -> None:
    session = Session(Hub(FailingPresenceBroker()), ListTransport(), Identity("alice"))
    cmd = '{"id": 1, "op": "subscribe", "channel": "room", "presence": true}'
    first = await session.handle_text(cmd)
    assert first is not None and first["error"]["code"] == "unavailable"
    assert session.channels == set()
    second = await session.handle_text(cmd)
    assert second is not None and second["result"]["recovered"] is True
    assert session.channels == {"room"}


def test_an_outbox_too_small_for_the_largest_frame_is_a_config_error() -> None:
    hub = Hub(MemoryBroker(), max_message_size=1 << 20)
    with pytest.raises(TraitError, match="outbox_limit .* at least"):
        RealtimeContext(hub=hub, outbox_limit=2 << 20)
    RealtimeContext(hub=hub, outbox_limit=4 << 20)  # the defaults fit


def test_one_admission_for_every_publish() -> None:
    """A session's publish and a REST POST are admitted by the same rules, in one order:
    the policy, the rate, the channel limit, the size."""
    hub = Hub(MemoryBroker(), max_message_size=10)

    def refused(identity: Identity, channel: str, size: int, limits: Limits) -> str:
        bucket = limits.publish_bucket()
        with pytest.raises(RealtimeError) as info:
            for _ in range(3):
                admit_publication(hub, Policy(), limits, identity, bucket, channel, size)
        return info.value.code.value

    alice, reader = Identity("alice"), Identity("bob", may_publish=False)
    assert refused(reader, "c", 100, Limits(max_channels=1)) == "forbidden"
    assert refused(alice, "c", 5, Limits(publish_rate=1, publish_burst=2)) == "rate_limited"
    one_channel = Limits(max_channels=1)
    admit_publication(hub, Policy(), one_channel, alice, None, "first", 5)
    assert refused(alice, "second", 5, one_channel) == "rate_limited"
    assert refused(alice, "first", 11, Limits()) == "too_large"


async def test_a_stream_of_more_channels_than_allowed_subscribes_none() -> None:
    session = Session(
        Hub(MemoryBroker()), ListTransport(), Identity("alice"),
        limits=Limits(max_subscriptions=2),
    )
    with pytest.raises(RealtimeError, match="2 subscriptions"):
        await session.subscribe_all(["a", "b", "c"], {})
    assert session.channels == set()
    assert len(await session.subscribe_all(["a", "b"], {})) == 2
