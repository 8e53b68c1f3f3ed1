"""The in-memory broker beyond the contract: history bounded by bytes, and what it keeps.

No server: a :class:`MemoryBroker` with a handler that encodes each publication for every
transport, as the sessions of a live server do.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

from jupyter_realtime.brokers.memory import PUBLICATION_OVERHEAD, MemoryBroker, kept_size
from jupyter_realtime.protocol import Position, Publication
from jupyter_realtime.transports.wsframe import publication_frame


class Encoder:
    """Caches the frames of every transport on each publication, like live delivery."""

    def __init__(self) -> None:
        self.count = 0

    def on_publication(self, pub: Publication) -> None:
        publication_frame(pub)
        pub.frames["sse1"] = b"id: x\ndata: " + pub.json() + b"\n\n"
        pub.frames["stream1"] = pub.json() + b"\n"
        self.count += 1

    def on_join(self, channel: str, info: dict[str, Any]) -> None: ...

    def on_leave(self, channel: str, info: dict[str, Any]) -> None: ...

    def on_gap(self, channel: str, position: Position) -> None: ...


async def publish(broker: MemoryBroker, channel: str, size: int) -> Publication:
    return await broker.publish(
        channel, b'"' + b"x" * (size - 2) + b'"', binary=False, sender="alice", ts=time.time()
    )


async def test_history_is_bounded_by_bytes_per_channel() -> None:
    broker = MemoryBroker(history_bytes=10 * (1000 + PUBLICATION_OVERHEAD + len("alice")))
    broker.set_handler(Encoder())
    pubs = [await publish(broker, "c", 1000) for _ in range(25)]
    kept = (await broker.history("c")).publications
    assert [p.offset for p in kept] == list(range(16, 26))
    assert broker.bytes == sum(kept_size(p) for p in kept) <= broker.history_bytes
    lost = await broker.history("c", since=pubs[13].position)  # offset 15 was evicted
    assert not lost.recovered and lost.publications[0].offset == 16
    assert (await broker.history("c", since=pubs[14].position)).recovered


async def test_history_is_bounded_by_bytes_server_wide_largest_channels_first() -> None:
    budget = 100_000
    broker = MemoryBroker(history_bytes_total=budget)
    broker.set_handler(Encoder())
    small = [await publish(broker, "small", 500) for _ in range(10)]
    big = [await publish(broker, "big", 5_000) for _ in range(25)]
    assert broker.bytes <= budget
    # the big channel's oldest went; the small one is left whole
    assert [p.offset for p in (await broker.history("small")).publications] == list(range(1, 11))
    kept = [p.offset for p in (await broker.history("big")).publications]
    assert kept == list(range(kept[0], 26)) and kept[0] > 1
    resumed = await broker.history("big", since=big[0].position)
    assert not resumed.recovered  # eviction moved the first kept offset
    assert (await broker.history("small", since=small[0].position)).recovered


async def test_history_keeps_no_encoded_copies_of_a_publication() -> None:
    """Live delivery caches a JSON text, a WebSocket frame, SSE and NDJSON chunks on each
    publication; history keeps the payload only, so it costs about its bytes."""
    broker = MemoryBroker()
    handler = Encoder()
    broker.set_handler(handler)
    n, size = 300, 2000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            await publish(broker, "c", size)
        per_publication = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert handler.count == n
    # about PUBLICATION_OVERHEAD beyond the payload; four more copies without the fix
    assert per_publication < size + 600, per_publication
    replay = (await broker.history("c", since=Position((await broker.position("c")).epoch, 0)))
    handler.on_publication(replay.publications[0])  # a replay encodes a copy of its own
    assert all(not p.frames for p in broker._channels["c"].history)
