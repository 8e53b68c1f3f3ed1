"""Where a real server keeps shared documents, and the edges of loading and storing them.

Each test runs ``jupyter server`` with the in-memory broker (documents are files under
Jupyter's data directory) and with the default SQLite broker (documents are rows of its
database): updates beyond the channel's history before anyone opened the document; stored
documents that are corrupt, empty or truncated; channel names of 189 characters; reads
that must create nothing; requests racing the unloading of a document.
"""

from __future__ import annotations

import asyncio
import base64
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pycrdt import Doc, Text
from test_documents_restart import TOKEN, JupyterServer, free_port

from jupyter_realtime.documents import FileStore, Snapshot, update_message

pytestmark = pytest.mark.timeout(240)

HEADERS = {"Authorization": f"token {TOKEN}"}
OCTETS = {**HEADERS, "Content-Type": "application/octet-stream"}
FAST = ("--RealtimeApp.documents_save_delay=0.1", "--RealtimeApp.documents_idle_unload=0.3")


def start(tmp: Path, broker_url: str, *extra: str) -> JupyterServer:
    server = JupyterServer(tmp, free_port(), broker_url, *extra)
    server.start()
    return server


@pytest.fixture(params=["memory://", ""], ids=["memory", "sqlite"])
def jupyter(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[JupyterServer]:
    server = start(tmp_path, request.param, *FAST)
    try:
        yield server
    finally:
        server.stop()


def files(server: JupyterServer) -> FileStore:
    return FileStore(server.tmp / "data" / "realtime" / "documents")


def rows(server: JupyterServer, table: str) -> list[Any]:
    """The rows of a table of the SQLite broker's database (the server stopped)."""
    db = sqlite3.connect(server.database())
    try:
        return db.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - a test's name
    finally:
        db.close()


class Writer:
    """A pycrdt document whose edits are published over REST, one update at a time."""

    def __init__(self) -> None:
        self.doc: Doc = Doc()
        self.text = self.doc.get("source", type=Text)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))

    async def publish(self, http: httpx.AsyncClient, server: JupyterServer, channel: str) -> None:
        updates, self.updates = self.updates, []
        for update in updates:
            reply = await http.post(server.url + f"realtime/api/channels/{channel}",
                                    content=update_message(update), headers=OCTETS)
            assert reply.status_code == 200, reply.text


async def document(http: httpx.AsyncClient, server: JupyterServer, channel: str) -> dict[str, Any]:
    reply = await http.get(server.url + f"realtime/api/documents/{channel}", headers=HEADERS)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    doc: Doc = Doc()
    doc.apply_update(base64.b64decode(body["update_b64"]))
    body["text"] = str(doc.get("source", type=Text))
    return body


async def until(predicate: Any, timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.05)


async def unloaded(http: httpx.AsyncClient, server: JupyterServer, channel: str) -> None:
    """Wait until the server let the document go (nobody subscribes to its channel)."""

    async def check() -> bool:
        reply = await http.get(server.url + "realtime/api/channels", headers=HEADERS)
        found = [c for c in reply.json()["channels"] if c["channel"] == channel]
        return not found or found[0]["subscribers"] == 0

    await until(check)


async def test_updates_beyond_the_history_before_the_first_open(jupyter: JupyterServer) -> None:
    """1,500 updates (the history keeps 1,000) while a hostile second user publishes 100
    malformed ones (refused) and 100 that are no updates on the same channel, before anyone
    opens it."""
    writer = Writer()
    for i in range(1500):  # one update each
        writer.text += chr(ord("a") + i % 26)
    assert len(writer.updates) == 1500

    async def hostile() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            url = jupyter.url + "realtime/api/channels/late:open"
            for i in range(100):
                # a malformed update is refused (the server's document is the one truth) ...
                reply = await http.post(
                    url, content=update_message(b"\xff\xfe not an update"), headers=OCTETS
                )
                assert reply.status_code == 400, reply.text
                assert reply.json()["error"]["code"] == "bad_request"
                # ... binary data that is no update is an ordinary publication
                reply = await http.post(url, content=b"\x01\x05 other", headers=OCTETS)
                assert reply.status_code == 200, reply.text

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(writer.publish(http, jupyter, "late:open"), hostile())
        body = await document(http, jupyter, "late:open")
    assert body["offset"] == 1600
    assert body["text"] == str(writer.text) and len(body["text"]) == 1500


async def test_names_of_189_characters(jupyter: JupyterServer) -> None:
    name = "team:" + "x" * 184
    assert len(name) == 189
    writer = Writer()
    writer.text += "long"
    async with httpx.AsyncClient(timeout=30) as http:
        await writer.publish(http, jupyter, name)
        await http.post(jupyter.url + f"realtime/api/channels/{name}:awareness",
                        content=b"\x01\x00", headers=OCTETS)
        assert (await document(http, jupyter, name))["text"] == "long"
        await unloaded(http, jupyter, name)  # saved and let go
        assert (await document(http, jupyter, name))["text"] == "long"  # loaded back
    await anyio.to_thread.run_sync(jupyter.stop)
    assert "Traceback" not in jupyter.log
    if jupyter.broker_url == "memory://":
        snapshot = await files(jupyter).load(name)
        assert files(jupyter).path(name).name.startswith("sha256-")
    else:
        snapshot = jupyter.stored(name)
        assert not files(jupyter).directory.exists()
    assert snapshot is not None
    doc: Doc = Doc()
    doc.apply_update(snapshot.state)
    assert str(doc.get("source", type=Text)) == "long"


async def test_reads_create_nothing(jupyter: JupyterServer) -> None:
    names = [f"unused:{i}" for i in range(300)]

    async def read(some: list[str]) -> None:  # two users at once
        async with httpx.AsyncClient(timeout=30) as http:
            for name in some:
                body = await document(http, jupyter, name)
                assert body["text"] == "" and body["offset"] == 0 and body["epoch"] == ""

    await asyncio.gather(read(names[::2]), read(names[1::2]))
    async with httpx.AsyncClient(timeout=30) as http:
        listed = await http.get(jupyter.url + "realtime/api/channels", headers=HEADERS)
    assert not [c for c in listed.json()["channels"] if c["channel"].startswith("unused:")]
    await anyio.to_thread.run_sync(jupyter.stop)
    assert not files(jupyter).directory.exists()
    if jupyter.broker_url != "memory://":
        assert rows(jupyter, "documents") == []
        assert not [row for row in rows(jupyter, "channels") if row[0].startswith("unused:")]


@pytest.mark.parametrize("broker_url", ["memory://", ""], ids=["memory", "sqlite"])
async def test_requests_racing_the_unloading_get_the_document(
    tmp_path: Path, broker_url: str
) -> None:
    """A document idle for 50 ms is saved and let go; two users edit and read it at moments
    that fall before, during and after those unloads."""
    server = start(tmp_path, broker_url, "--RealtimeApp.documents_save_delay=3600",
                   "--RealtimeApp.documents_idle_unload=0.05")
    rng = random.Random(7)
    try:
        async def user(name: str) -> None:
            writer = Writer()
            async with httpx.AsyncClient(timeout=30) as http:
                for i in range(40):
                    writer.text += f"{name}{i} "
                    await writer.publish(http, server, "race")  # the unload will save it
                    await anyio.sleep(rng.uniform(0.03, 0.15))
                    text = (await document(http, server, "race"))["text"]
                    assert f"{name}{i} " in text, (name, i, text)

        await asyncio.gather(user("a"), user("b"))
        async with httpx.AsyncClient(timeout=30) as http:
            text = (await document(http, server, "race"))["text"]
        assert sorted(text.split()) == sorted(f"{n}{i}" for n in "ab" for i in range(40))
        assert "already subscribed" not in server.log and "Traceback" not in server.log
    finally:
        server.stop()


# -- corrupt stored documents --

CORRUPTIONS = {
    "empty": lambda state: b"",
    "truncated": lambda state: state[: len(state) // 2],
    "garbage": lambda state: b"\xff" * 12,
}


async def test_corrupt_rows_are_rebuilt_from_the_history(tmp_path: Path) -> None:
    server = start(tmp_path, "", *FAST)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for kind in CORRUPTIONS:
                writer = Writer()
                writer.text += f"text of {kind}"
                await writer.publish(http, server, f"bad:{kind}")
                assert (await document(http, server, f"bad:{kind}"))["text"] == f"text of {kind}"
        await anyio.to_thread.run_sync(server.stop)  # saves every document
        db = sqlite3.connect(server.database())
        for kind, corrupt in CORRUPTIONS.items():
            (state,) = db.execute("SELECT state FROM documents WHERE name = ?",
                                  (f"bad:{kind}",)).fetchone()
            db.execute("UPDATE documents SET state = ? WHERE name = ?",
                       (corrupt(state), f"bad:{kind}"))
        db.commit()
        db.close()
        await anyio.to_thread.run_sync(server.start)
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(2):  # asked twice: one log line
                for kind in CORRUPTIONS:
                    body = await document(http, server, f"bad:{kind}")
                    assert body["text"] == f"text of {kind}" and body["offset"] == 1
        for kind in CORRUPTIONS:
            lines = [line for line in server.log.splitlines() if "unreadable" in line]
            named = [line for line in lines if f"bad:{kind}" in line]
            assert len(named) == 1, lines
            assert str(server.database()) in named[0]
        await anyio.to_thread.run_sync(server.stop)
        for kind in CORRUPTIONS:  # the next save replaced it
            stored = server.stored(f"bad:{kind}")
            assert stored is not None
            doc: Doc = Doc()
            doc.apply_update(stored.state)
            assert str(doc.get("source", type=Text)) == f"text of {kind}"
    finally:
        server.stop()


FILE_CORRUPTIONS = {
    "empty": lambda path: path.write_bytes(b""),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size - 4]),
    "header": lambda path: path.write_bytes(b'{"epoch": "x"}\n\x00\x00'),
    "nostate": lambda path: path.write_bytes(path.read_bytes().partition(b"\n")[0]),
    "directory": lambda path: (path.unlink(), path.mkdir()),
}


async def test_corrupt_files_are_rebuilt_from_the_history(tmp_path: Path) -> None:
    server = start(tmp_path, "memory://", *FAST)
    store = FileStore(tmp_path / "data" / "realtime" / "documents")
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for kind, corrupt in FILE_CORRUPTIONS.items():
                channel = f"bad:{kind}"
                writer = Writer()
                writer.text += f"text of {kind}"
                await writer.publish(http, server, channel)
                await document(http, server, channel)
                await unloaded(http, server, channel)
                assert store.path(channel).is_file()
                corrupt(store.path(channel))
                for _ in range(2):  # asked twice: one log line
                    body = await document(http, server, channel)
                    assert body["text"] == f"text of {kind}", kind
                lines = [line for line in server.log.splitlines() if "unreadable" in line]
                named = [line for line in lines if f"bad:{kind}" in line]
                assert len(named) == 1, lines
                assert str(store.path(channel)) in named[0]
                if kind == "directory":  # saves fail: one traceback, not one per attempt
                    await anyio.sleep(1)
                    assert server.log.count("Traceback") <= 1
                else:  # the next save replaced it
                    await unloaded(http, server, channel)
                    snapshot = await store.load(channel)
                    assert snapshot is not None
                    doc: Doc = Doc()
                    doc.apply_update(snapshot.state)
                    assert str(doc.get("source", type=Text)) == f"text of {kind}"
    finally:
        server.stop()


async def test_files_of_earlier_versions_move_into_the_database(tmp_path: Path) -> None:
    """A SQLite server of an earlier version kept snapshots as files under documents_dir:
    they are read when the document is not in the database yet, and the next save moves it
    there. Setting documents_dir with this broker says it is deprecated."""
    legacy = FileStore(tmp_path / "old-documents")
    writer = Writer()
    writer.text += "from an earlier version"
    await legacy.save("kept:file", Snapshot("e0", 3, writer.doc.get_update()))
    server = start(tmp_path, "", f"--RealtimeApp.documents_dir={legacy.directory}", *FAST)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await document(http, server, "kept:file"))["text"] == str(writer.text)
        await anyio.to_thread.run_sync(server.stop)
        assert "documents_dir is deprecated" in server.log
        stored = server.stored("kept:file")
        assert stored is not None
        doc: Doc = Doc()
        doc.apply_update(stored.state)
        assert str(doc.get("source", type=Text)) == str(writer.text)
        assert await legacy.load("kept:file") is not None  # left as it was
    finally:
        server.stop()
