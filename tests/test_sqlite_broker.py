"""The SQLite broker beyond the contract: what a file keeps across a restart, who may
open it, and when a publication is acknowledged. Real files under ``tmp_path``; no server
(restarts of real servers: ``test_sqlite_servers.py``)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_realtime.brokers import _sqlite_store
from jupyter_realtime.brokers.base import Duplicate
from jupyter_realtime.brokers.sqlite import SQLiteBroker, StoreError, sqlite_path
from jupyter_realtime.protocol import Position, Publication

pytestmark = pytest.mark.timeout(30)


class Recorder:
    def __init__(self) -> None:
        self.pubs: list[Publication] = []

    def on_publication(self, pub: Publication) -> None:
        self.pubs.append(pub)

    def on_join(self, channel: str, info: dict[str, Any]) -> None:
        pass

    def on_leave(self, channel: str, info: dict[str, Any]) -> None:
        pass

    def on_gap(self, channel: str, position: Position) -> None:
        pass


async def started(path: Path, **options: Any) -> SQLiteBroker:
    broker = SQLiteBroker(path=path, **options)
    broker.set_handler(Recorder())
    await broker.start()
    return broker


async def publish(broker: SQLiteBroker, channel: str, data: bytes, **kw: Any) -> Publication:
    kw.setdefault("binary", False)
    kw.setdefault("sender", "alice")
    kw.setdefault("ts", time.time())
    return await broker.publish(channel, data, **kw)


async def test_a_reopened_file_keeps_epochs_offsets_history_and_keys(tmp_path: Path):
    path = tmp_path / "channels.sqlite3"
    broker = await started(path, history_size=3)
    first = await publish(broker, "c", b'"a"', idempotency_key="k1")
    for i in range(2, 6):
        await publish(broker, "c", b"%d" % i, binary=(i == 3), sender=None)
    await broker.subscribe("quiet")  # a channel with an epoch and nothing else
    quiet = await broker.position("quiet")
    await publish(broker, "keys-only", b"1", idempotency_key="k")
    await broker.close()

    again = await started(path, history_size=3)
    try:
        assert await again.position("c") == Position(first.epoch, 5)
        kept = (await again.history("c")).publications
        assert [(p.offset, p.payload, p.binary, p.sender) for p in kept] == [
            (3, b"3", True, None), (4, b"4", False, None), (5, b"5", False, None)
        ]
        resumed = await again.history("c", since=Position(first.epoch, 2))
        assert resumed.recovered and [p.offset for p in resumed.publications] == [3, 4, 5]
        assert not (await again.history("c", since=Position(first.epoch, 1))).recovered
        repeat = await publish(again, "c", b'"a"', idempotency_key="k1")
        assert isinstance(repeat, Duplicate) and repeat.position == first.position
        assert (await publish(again, "c", b"6")).position == Position(first.epoch, 6)
        assert isinstance(await publish(again, "keys-only", b"1", idempotency_key="k"), Duplicate)
        assert await again.position("quiet") == quiet  # let go, but its epoch is kept
    finally:
        await again.close()


async def test_a_layout_1_file_is_upgraded_in_place(tmp_path: Path):
    """Files written before ``sender_name`` existed open; their rows have none."""
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    old_schema = """
        CREATE TABLE channels (name TEXT PRIMARY KEY, epoch TEXT NOT NULL,
            offset INTEGER NOT NULL, retired_until REAL) WITHOUT ROWID;
        CREATE TABLE publications (channel TEXT NOT NULL, offset INTEGER NOT NULL,
            ts REAL NOT NULL, sender TEXT, binary INTEGER NOT NULL, payload BLOB NOT NULL,
            PRIMARY KEY (channel, offset));
        CREATE TABLE idempotency_keys (channel TEXT NOT NULL, key TEXT NOT NULL,
            offset INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (channel, key));
    """  # layout 1, as its servers wrote it
    db.executescript(old_schema)
    db.execute("INSERT INTO channels VALUES ('c', 'e1', 1, NULL)")
    db.execute("INSERT INTO publications VALUES ('c', 1, ?, 'ada', 0, X'31')", (time.time(),))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    broker = await started(path)
    try:
        (old,) = (await broker.history("c")).publications
        assert (old.sender, old.sender_name, old.payload) == ("ada", None, b"1")
        new = await publish(broker, "c", b"2", sender_name="Ada L.")
        assert new.offset == 2
    finally:
        await broker.close()
    again = await started(path)
    try:
        names = [p.sender_name for p in (await again.history("c")).publications]
        assert names == [None, "Ada L."]
    finally:
        await again.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


async def test_a_resume_from_beyond_the_newest_offset_is_not_recovered(tmp_path: Path):
    """A client that saw a publication a crash took before it was stored is told so."""
    broker = await started(tmp_path / "c.sqlite3")
    try:
        pub = await publish(broker, "c", b"1")
        result = await broker.history("c", since=Position(pub.epoch, 2))
        assert not result.recovered and result.position == pub.position
    finally:
        await broker.close()


async def test_the_acknowledgement_waits_for_the_commit_but_live_delivery_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    broker = await started(tmp_path / "c.sqlite3")
    await broker.subscribe("c")
    await publish(broker, "c", b"0")
    disk = threading.Event()
    apply = _sqlite_store.Batch.apply
    writers: list[str] = []

    def slow_apply(batch: _sqlite_store.Batch, db: Any) -> None:
        writers.append(threading.current_thread().name)
        disk.wait(10)
        apply(batch, db)

    monkeypatch.setattr(_sqlite_store.Batch, "apply", slow_apply)
    try:
        task = asyncio.ensure_future(publish(broker, "c", b"1", idempotency_key="k"))
        await asyncio.sleep(0.1)
        repeat = asyncio.ensure_future(publish(broker, "c", b"1", idempotency_key="k"))
        await asyncio.sleep(0.2)
        assert [p.offset for p in broker.handler.pubs] == [1, 2]  # type: ignore[union-attr]
        # neither the publication nor its repeat is acknowledged before it is stored
        assert not task.done() and not repeat.done()
        assert writers and threading.main_thread().name not in writers
        disk.set()
        first, again = await task, await repeat
        assert first.offset == 2 and isinstance(again, Duplicate) and again.offset == 2
    finally:
        disk.set()
        await broker.close()


async def test_a_failed_commit_is_not_acknowledged_and_is_written_with_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "c.sqlite3"
    broker = await started(path)
    apply = _sqlite_store.Batch.apply
    failures = [1]

    def failing_apply(batch: _sqlite_store.Batch, db: Any) -> None:
        if failures and batch.publications:
            failures.pop()
            raise _sqlite_store.sqlite3.OperationalError("disk I/O error")
        apply(batch, db)

    monkeypatch.setattr(_sqlite_store.Batch, "apply", failing_apply)
    with pytest.raises(Exception, match=f"cannot write to the realtime database {path}"):
        await publish(broker, "c", b"1")
    await publish(broker, "c", b"2")
    await broker.close()
    again = await started(path)
    try:
        assert [p.payload for p in (await again.history("c")).publications] == [b"1", b"2"]
    finally:
        await again.close()


async def test_a_file_in_use_by_another_broker_is_refused_naming_it(tmp_path: Path):
    path = tmp_path / "c.sqlite3"
    broker = await started(path)
    try:
        with pytest.raises(StoreError, match=f"{path} is locked by another process"):
            await started(path)
    finally:
        await broker.close()
    await (await started(path)).close()  # released on close


@pytest.mark.parametrize(
    "content",
    [b"not a database, but long enough to be read " * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
)
async def test_a_corrupt_file_is_refused_naming_it_and_left_as_it_is(
    tmp_path: Path, content: bytes
):
    path = tmp_path / "c.sqlite3"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=f"{path} is corrupt or not a realtime database"):
        await started(path)
    assert path.read_bytes() == content


def test_the_default_file_is_one_per_root_dir(tmp_path: Path):
    one = sqlite_path("", tmp_path / "data", tmp_path / "a")
    assert one.parent == tmp_path / "data" / "realtime" and one.suffix == ".sqlite3"
    assert sqlite_path("", tmp_path / "data", tmp_path / "a" / ".." / "a") == one
    assert sqlite_path("", tmp_path / "data", tmp_path / "b") != one
    assert sqlite_path(f"sqlite://{tmp_path}/x.db", "ignored", "ignored") == tmp_path / "x.db"


def test_the_broker_url_picks_the_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from jupyter_realtime.app import RealtimeApp
    from jupyter_realtime.brokers.memory import MemoryBroker

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    default = RealtimeApp().make_broker()  # nothing is opened before the server starts
    assert type(default) is SQLiteBroker
    assert default.path.parent == tmp_path / "data" / "realtime"
    assert type(RealtimeApp(broker_url="memory://").make_broker()) is MemoryBroker
    explicit = RealtimeApp(broker_url=f"sqlite://{tmp_path}/x.sqlite3").make_broker()
    assert isinstance(explicit, SQLiteBroker) and explicit.path == tmp_path / "x.sqlite3"
    assert not list(tmp_path.rglob("*.sqlite3"))


@pytest.mark.parametrize("synchronous", ["normal", "full"])
async def test_the_synchronous_setting_reaches_sqlite(tmp_path: Path, synchronous: str):
    broker = await started(tmp_path / "c.sqlite3", synchronous=synchronous)
    try:
        db = broker.store._db
        assert db is not None
        level = db.execute("PRAGMA synchronous").fetchone()[0]
        assert level == {"normal": 1, "full": 2}[synchronous]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await broker.close()


async def test_a_broker_opened_but_never_started_closes_and_releases_the_file(tmp_path: Path):
    """As a server whose extension was loaded but never started, then stopped."""
    path = tmp_path / "c.sqlite3"
    broker = SQLiteBroker(path=path)
    broker.open()
    await broker.close()
    await (await started(path)).close()


async def test_retention_deletes_from_the_file_in_the_writer_thread(tmp_path: Path):
    from jupyter_realtime.brokers.retention import Retention, Rule

    path = tmp_path / "channels.sqlite3"
    broker = await started(path, retention=Retention(Rule(bytes=10_000)))
    assert broker.store._db is not None
    deletes: list[str] = []

    def traced(statement: str) -> None:
        if statement.startswith("DELETE FROM publications WHERE channel"):
            deletes.append(threading.current_thread().name)

    broker.store._db.set_trace_callback(traced)
    try:
        for i in range(50):
            await publish(broker, "c", b'"%s"' % (b"%d" % i * 100))
        kept = [p.offset for p in (await broker.history("c")).publications]
        assert kept[-1] == 50 and 5 <= len(kept) < 50
        assert deletes and set(deletes) == {f"realtime-sqlite {path.name}"}
        assert threading.current_thread().name not in deletes
    finally:
        await broker.close()
    import sqlite3

    with sqlite3.connect(path) as db:
        rows = [r[0] for r in db.execute("SELECT offset FROM publications ORDER BY offset")]
    assert rows == kept


async def test_the_writer_checkpoints_so_the_wal_stays_bounded(tmp_path: Path):
    """SQLite's own checkpoint is off (it would hold up a commit); the writer's keeps the
    WAL from growing with every commit."""
    path = tmp_path / "channels.sqlite3"
    broker = await started(path)
    wal = path.with_name(path.name + "-wal")
    try:
        for i in range(3 * _sqlite_store.CHECKPOINT_ALWAYS):  # a commit each, one at a time
            await publish(broker, "c", b'"%s"' % (b"%d" % i * 50))
        # without checkpoints: a few pages per commit, over 20 MB by now
        assert wal.stat().st_size < 8 << 20, wal.stat().st_size
        assert len((await broker.history("c")).publications) == 3 * _sqlite_store.CHECKPOINT_ALWAYS
    finally:
        await broker.close()
