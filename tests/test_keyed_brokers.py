"""Keyed publications at scale, and across restarts of the SQLite file.

The latest publication of a key is returned however many other publications came after
it: 100,000 with the memory and SQLite brokers. With a real ``redis-server`` 10,000: each
publish there is a script run over a socket, about 1 ms on a shared two-core machine, so
100,000 would take this one test near two minutes without testing anything more (the
script keeps the latest in a hash that no trimming touches, whatever the count).
The SQLite file keeps keyed values across a reopen, and a file of the first layout
(publications without a ``key`` column) is upgraded in place.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from redis_fixtures import RedisServer

from jupyter_realtime.brokers.base import Broker
from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.brokers.sqlite import SQLiteBroker
from jupyter_realtime.protocol import Position, Publication

pytestmark = pytest.mark.timeout(180)


class Quiet:
    """A broker event handler that counts deliveries."""

    def __init__(self) -> None:
        self.count = 0

    def on_publication(self, pub: Publication) -> None:
        self.count += 1

    def on_join(self, channel: str, info: dict[str, Any]) -> None:
        pass

    def on_leave(self, channel: str, info: dict[str, Any]) -> None:
        pass

    def on_gap(self, channel: str, position: Position) -> None:
        pass


async def started(broker: Broker) -> Broker:
    broker.set_handler(Quiet())
    await broker.start()
    return broker


async def flood(broker: Broker, channel: str, count: int, batch: int = 500) -> None:
    """``count`` unkeyed publications, ``batch`` at a time (one commit per batch in SQLite)."""
    ts = time.time()
    for start in range(0, count, batch):
        await asyncio.gather(
            *(
                broker.publish(channel, b"%d" % n, binary=False, sender="bob", ts=ts)
                for n in range(start, min(count, start + batch))
            )
        )


async def latest_survives(broker: Broker, others: int) -> Publication:
    kept = await broker.publish(
        "metrics", b'{"cpu": 0.5}', binary=False, sender="alice", ts=time.time(), key="cpu"
    )
    await flood(broker, "metrics", others)
    got = await broker.latest("metrics", "cpu")
    assert got.position == Position(kept.epoch, others + 1)
    assert [(p.offset, p.data, p.sender, p.key) for p in got.publications] == [
        (1, {"cpu": 0.5}, "alice", "cpu")
    ]
    history = await broker.history("metrics", limit=1000)
    assert history.publications[0].offset == others + 1 - 999  # history moved on
    return kept


async def test_a_key_survives_100000_other_publications_in_memory():
    broker = await started(MemoryBroker(history_size=1000))
    try:
        await latest_survives(broker, 100_000)
    finally:
        await broker.close()


async def test_a_key_survives_100000_other_publications_in_sqlite_and_a_reopen(
    tmp_path: Path,
):
    path = tmp_path / "channels.sqlite3"
    broker = await started(SQLiteBroker(path=path, history_size=1000))
    try:
        kept = await latest_survives(broker, 100_000)
    finally:
        await broker.close()
    again = await started(SQLiteBroker(path=path, history_size=1000))
    try:
        got = await again.latest("metrics", "cpu")
        assert [(p.position, p.data) for p in got.publications] == [
            (kept.position, {"cpu": 0.5})
        ]
        # a keyed value of the file, superseded after the reopen, is replaced in it too
        await again.publish(
            "metrics", b"2", binary=False, sender=None, ts=time.time(), key="cpu"
        )
    finally:
        await again.close()
    third = await started(SQLiteBroker(path=path, history_size=1000))
    try:
        got = await third.latest("metrics", "cpu")
        assert [(p.offset, p.data) for p in got.publications] == [(100_002, 2)]
    finally:
        await third.close()


@pytest.mark.redis
async def test_a_key_survives_10000_other_publications_in_redis(tmp_path: Path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        from jupyter_realtime.brokers.redis import RedisBroker

        broker = await started(RedisBroker(url=server.url, history_size=1000))
        try:
            await latest_survives(broker, 10_000)
        finally:
            await broker.close()
    finally:
        server.stop()


async def test_the_sqlite_file_keeps_keyed_values_capped_on_reopen(tmp_path: Path):
    path = tmp_path / "channels.sqlite3"
    broker = await started(SQLiteBroker(path=path, history_size=2))
    for name in ("a", "b", "c"):
        await broker.publish("c", b'"%s"' % name.encode(), binary=False, sender=None,
                             ts=time.time(), key=name)
    await broker.close()
    again = await started(SQLiteBroker(path=path, history_size=2, latest_keys=2))
    try:
        assert (await again.latest("c", "a")).publications == []  # beyond the new cap
        assert [p.data for p in (await again.latest("c", "b")).publications] == ["b"]
        assert [p.key for p in (await again.history("c")).publications] == ["b", "c"]
    finally:
        await again.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key FROM latest ORDER BY key").fetchall()
    assert rows == [("b",), ("c",)]


async def test_a_file_of_the_first_layout_is_upgraded_in_place(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE channels (name TEXT PRIMARY KEY, epoch TEXT NOT NULL,
                offset INTEGER NOT NULL, retired_until REAL) WITHOUT ROWID;
            CREATE TABLE publications (channel TEXT NOT NULL, offset INTEGER NOT NULL,
                ts REAL NOT NULL, sender TEXT, binary INTEGER NOT NULL, payload BLOB NOT NULL,
                PRIMARY KEY (channel, offset));
            CREATE TABLE idempotency_keys (channel TEXT NOT NULL, key TEXT NOT NULL,
                offset INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (channel, key));
            INSERT INTO channels VALUES ('c', 'e1', 1, NULL);
            PRAGMA user_version = 1;
            """
        )
        db.execute(
            "INSERT INTO publications VALUES ('c', 1, ?, 'alice', 0, ?)", (time.time(), b'"old"')
        )
    broker = await started(SQLiteBroker(path=path))
    try:
        assert [(p.data, p.key) for p in (await broker.history("c")).publications] == [
            ("old", None)
        ]
        pub = await broker.publish(
            "c", b'"new"', binary=False, sender=None, ts=time.time(), key="k"
        )
        assert pub.position == Position("e1", 2)
    finally:
        await broker.close()
    again = await started(SQLiteBroker(path=path))
    try:
        assert [p.data for p in (await again.latest("c", "k")).publications] == ["new"]
    finally:
        await again.close()
