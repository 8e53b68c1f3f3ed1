"""The documents service on a hub without Tornado: loading, live updates, saving by size and
age, unloading, continuing from a snapshot after a restart (a new hub and broker), and
concurrent saves of one document (the newest state always wins)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.brokers.sqlite import SQLiteBroker
from jupyter_realtime.documents import (
    DocumentService,
    FileStore,
    MemoryStore,
    Snapshot,
    update_message,
    update_of,
)
from jupyter_realtime.hub import Hub
from jupyter_realtime.protocol import Position


class Editor:
    """A pycrdt document whose edits become the channel's publications."""

    def __init__(self, text: str = "") -> None:
        self.doc: Doc = Doc()
        self.text = self.doc.get("source", type=Text)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))
        if text:
            self.text += text

    async def flush(self, hub: Hub, channel: str) -> None:
        updates, self.updates = self.updates, []
        for update in updates:
            await hub.publish(channel, update_message(update), binary=True, sender="t")


class Reader:
    id = "reader"

    def deliver(self, pub: Any) -> None:
        pass

    def send_event(self, frame: dict[str, Any]) -> None:
        pass

    def fail(self, exc: BaseException) -> None:
        pass


def text_of(update: bytes) -> str:
    doc: Doc = Doc()
    doc.apply_update(update)
    return str(doc.get("source", type=Text))


def test_codec_ignores_what_is_no_update() -> None:
    assert update_of(update_message(b"\x01\x02")) == b"\x01\x02"
    assert update_of(b'{"json": 1}') is None
    assert update_of(b"\x01\x03abc") is None  # awareness
    assert update_of(b"\x00\x02\xff") is None  # truncated length


async def test_state_is_tagged_with_the_position_it_includes() -> None:
    hub = Hub(MemoryBroker())
    service = DocumentService(hub)
    editor = Editor("hello")
    await editor.flush(hub, "d")
    state = await service.state("d")
    assert text_of(state.update) == "hello"
    assert state.position.offset == 1
    editor.text += " world"
    await editor.flush(hub, "d")
    await hub.publish("d", b'"not an update"')  # ignored, but the position moves past it
    state = await service.state("d")
    assert text_of(state.update) == "hello world"
    assert state.position.offset == 3


async def test_state_vector_gives_only_what_the_client_lacks() -> None:
    hub = Hub(MemoryBroker())
    service = DocumentService(hub)
    editor = Editor("abc")
    await editor.flush(hub, "d")
    state = await service.state("d")
    client: Doc = Doc()
    client.apply_update(state.update)
    editor.text += "def"
    await editor.flush(hub, "d")
    diff = await service.state("d", client.get_state())
    assert len(diff.update) < len((await service.state("d")).update)
    client.apply_update(diff.update)
    assert str(client.get("source", type=Text)) == "abcdef"


async def test_saved_by_size_at_once_and_by_age_while_busy() -> None:
    now = [0.0]
    hub = Hub(MemoryBroker())
    store = MemoryStore()
    service = DocumentService(hub, store, save_delay=2.0, save_bytes=200, clock=lambda: now[0])
    editor = Editor()
    await service.load("d")
    editor.text += "x"
    await editor.flush(hub, "d")
    await service.sweep()
    assert "d" not in store.snapshots  # too young, too small
    now[0] = 2.5
    await service.sweep()
    assert text_of(store.snapshots["d"].state) == "x"
    assert store.snapshots["d"].offset == 1
    editor.text += "y" * 300
    await editor.flush(hub, "d")
    await asyncio.sleep(0.01)
    assert len(text_of(store.snapshots["d"].state)) == 301  # by size, without a sweep


async def test_unloaded_when_idle_and_only_then() -> None:
    now = [0.0]
    hub = Hub(MemoryBroker())
    store = MemoryStore()
    service = DocumentService(hub, store, idle_unload=10.0, clock=lambda: now[0])
    await hub.subscribe(Reader(), "d")
    editor = Editor("kept")
    await editor.flush(hub, "d")
    await service.load("d")
    now[0] = 20.0
    await service.sweep()
    assert "d" in service.documents  # someone else still follows the channel
    await hub.unsubscribe(Reader(), "d")
    now[0] = 31.0
    await service.sweep()
    assert "d" not in service.documents
    assert hub.subscriber_count("d") == 0
    assert text_of(store.snapshots["d"].state) == "kept"


async def test_restart_continues_from_the_file_and_new_history(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    hub = Hub(MemoryBroker())
    service = DocumentService(hub, store)
    editor = Editor("before ")
    await editor.flush(hub, "team:etl")
    await service.load("team:etl")
    await service.close()
    assert [p.name for p in tmp_path.iterdir()] == ["7465616d3a65746c.ydoc"]
    # a new server: the memory broker starts a new epoch with an empty history
    hub2 = Hub(MemoryBroker())
    service2 = DocumentService(hub2, FileStore(tmp_path))
    state = await service2.state("team:etl")
    editor.doc.apply_update(state.update)  # what a reconnecting client merges: nothing doubles
    editor.updates.clear()
    editor.text += "after"
    await editor.flush(hub2, "team:etl")
    assert await service2.text("team:etl") == "before after"
    await service2.close()
    snapshot = await FileStore(tmp_path).load("team:etl")
    assert snapshot is not None and text_of(snapshot.state) == "before after"
    assert snapshot.epoch == (await hub2.position("team:etl")).epoch


async def test_loading_replays_history_after_the_snapshot() -> None:
    hub = Hub(MemoryBroker())
    editor = Editor("one")
    await editor.flush(hub, "d")
    store = MemoryStore()
    position = await hub.position("d")
    await store.save("d", Snapshot(position.epoch, position.offset, editor.doc.get_update()))
    editor.text += " two"
    await editor.flush(hub, "d")
    service = DocumentService(hub, store)
    state = await service.state("d")
    assert text_of(state.update) == "one two"
    assert state.position == Position(position.epoch, 2)


async def test_concurrent_loads_subscribe_once() -> None:
    hub = Hub(MemoryBroker())
    service = DocumentService(hub)
    await Editor("x").flush(hub, "d")
    await asyncio.sleep(0)  # the update loads the document
    states = await asyncio.gather(*(service.state("d") for _ in range(5)))
    assert len({s.position for s in states}) == 1
    assert hub.subscriber_count("d") == 1


@pytest.mark.parametrize("kind", ["files", "sqlite"])
async def test_concurrent_saves_the_newest_always_wins(tmp_path: Path, kind: str) -> None:
    broker = SQLiteBroker(path=tmp_path / "db.sqlite3") if kind == "sqlite" else MemoryBroker()
    hub = Hub(broker)
    await hub.start()
    storage = broker.document_storage()
    store = storage if storage is not None else FileStore(tmp_path / "documents")
    service = DocumentService(hub, store, save_delay=3600, save_bytes=10**9)
    editor = Editor("start ")
    await editor.flush(hub, "d")
    document = await service.load("d")
    try:
        for i in range(25):
            saves = []
            for j in range(4):  # an edit, then a save, while the earlier saves still run
                editor.text += f"{i}.{j} "
                await editor.flush(hub, "d")
                saves.append(asyncio.ensure_future(service.save(document)))
                await asyncio.sleep(0)  # it starts: takes the state of now
            service.save_soon(document)
            assert document.saving is not None
            await asyncio.gather(*saves, document.saving)
            stored = await store.load("d")
            assert stored is not None and text_of(stored.state) == str(editor.text), i
            assert stored.offset == (await hub.position("d")).offset
        if kind == "files":
            assert [p.name for p in (tmp_path / "documents").iterdir()] == ["64.ydoc"]
    finally:
        await service.close()
        await hub.close()
