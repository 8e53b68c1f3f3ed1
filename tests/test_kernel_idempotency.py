"""Keyed publications (as the mirror sends) survive a dropped connection: sent again,
neither lost nor stored twice."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest

from jupyter_realtime.client import AsyncClient
from jupyter_realtime.client._channel import new_key
from jupyter_realtime.client._errors import ConnectionLost
from jupyter_realtime.client._outbox import Outbox


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"history_size": 5000}


def test_keyed_publications_in_flight_go_back_to_the_queue_in_order() -> None:
    outbox = Outbox(100)
    keyed = [outbox.put("publish", "", None, False, {"channel": "c", "data": i,
                                                     "idempotency_key": f"k{i}"})
             for i in range(3)]  # fmt: skip
    plain = outbox.put("publish", "", None, False, {"channel": "c", "data": "x"})
    queued = outbox.put("publish", "", None, False, {"channel": "c", "data": "q"})
    for p in (*keyed, plain):  # as drain() does when it sends them
        outbox.queue.remove(p)
        outbox.inflight[p.id] = p
    outbox.lost(ConnectionLost("dropped"))
    assert list(outbox.queue) == [*keyed, queued]  # sent again first, in their order
    assert not any(p.done for p in keyed)
    assert plain.done and isinstance(plain.error, ConnectionLost)  # unknown fate: it fails
    assert orjson.loads(keyed[0].frame)["idempotency_key"] == "k0"


def test_keys_are_unique() -> None:
    keys = {new_key() for _ in range(10_000)}
    assert len(keys) == 10_000


async def test_publish_nowait_in_flight_across_a_drop(server: Any, jp_serverapp: Any) -> None:
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_realtime"]
    async with AsyncClient(server.http(), server.token, backoff=(0.1, 0.5)) as client:
        ch = client.channel("keyed")
        async with ch.subscribe():
            (session,) = app.hub._subscribers["keyed"].values()
            for i in range(2000):
                ch.publish_nowait(i)
            outbox = client._outbox
            with anyio.fail_after(10):
                while not outbox.inflight:  # some are sent, their replies not yet read
                    await anyio.sleep(0)
            in_flight = len(outbox.inflight)
            session.transport.stream.close()  # the TCP connection ends under them
            await ch.flush(timeout=30)  # raised ConnectionLost before keys were resent
            history: list[Any] = []
            while page := await ch.history(limit=1000, since=len(history)):
                history += [m.data for m in page]
    assert in_flight > 0
    assert history == list(range(2000))  # none failed, lost, doubled or reordered
