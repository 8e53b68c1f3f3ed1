"""The durable default across restarts of a real ``jupyter server`` subprocess.

Each server keeps its channels in SQLite (the default file for its root dir, in a
temporary Jupyter data dir). It is stopped, or killed with ``kill -9`` right after its
last acknowledgement, and started again on the same file: nothing acknowledged is lost,
no epoch changes, and a client that stayed subscribed through it all resumes with
``recovered: true``, getting each publication exactly once. A second server on the same
file, and a corrupt file, stop the server at start with a message naming the file.

A commit takes milliseconds, so a kill right after the last acknowledgement rarely lands
between a publication's delivery and its commit: that an acknowledgement waits for the
commit is checked deterministically, with a writer held back, in ``test_sqlite_broker.py``.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from redis_fixtures import JupyterProcess, wait_for

from jupyter_realtime.client import AsyncClient, GapError

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Jupyter's data dir for the servers this test starts (they inherit the variable)."""
    data = tmp_path / "data"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    return data


def boot(server: JupyterProcess) -> None:
    """Start ``server`` and wait until it answers (slowly on a busy machine)."""
    server.start(wait=False)
    wait_for(server.ready, 120, f"jupyter server on port {server.port} (log: {server.log})")


def database(data_dir: Path) -> Path:
    (path,) = (data_dir / "realtime").glob("*.sqlite3")
    return path


async def history(server: JupyterProcess, channel: str) -> dict[str, Any]:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as client:
        url = server.http(f"realtime/api/channels/{channel}/history?limit=1000")
        reply = await client.get(url)
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]


async def test_kill_and_restart_lose_nothing_acknowledged_and_keep_the_epoch(
    tmp_path: Path, data_dir: Path
) -> None:
    server = JupyterProcess(tmp_path, "")  # '': the default broker
    boot(server)
    url = f"http://127.0.0.1:{server.port}/"
    received: list[Any] = []
    try:
        async with AsyncClient(url, server.headers["Authorization"][6:], backoff=(0.1, 0.5)) as sub:
            channel = sub.channel("durable")

            async def follow() -> None:
                async with channel.subscribe() as subscription:
                    async for message in subscription:  # a GapError here fails the test
                        received.append((message.epoch, message.offset, message.data))

            follower = asyncio.ensure_future(follow())
            await anyio.sleep(0.3)
            async with AsyncClient(url, server.headers["Authorization"][6:]) as pub:
                positions = await asyncio.gather(
                    *(pub.channel("durable").publish({"n": n}) for n in range(200))
                )
            server.stop(signal.SIGKILL)  # right after the last acknowledgement
            epoch = positions[0].epoch
            assert {p.epoch for p in positions} == {epoch}
            assert sorted(p.offset for p in positions) == list(range(1, 201))

            boot(server)
            kept = await history(server, "durable")
            assert kept["epoch"] == epoch and kept["offset"] == 200
            assert len(kept["publications"]) == 200
            async with AsyncClient(url, server.headers["Authorization"][6:]) as pub:
                for n in range(200, 210):
                    assert (await pub.channel("durable").publish({"n": n})).epoch == epoch
            server.stop()  # a clean stop, then once more
            boot(server)
            async with AsyncClient(url, server.headers["Authorization"][6:]) as pub:
                assert (await pub.channel("durable").publish({"n": 210})).offset == 211
            with anyio.fail_after(30):
                while len(received) < 211 and not follower.done():
                    await anyio.sleep(0.05)
            await anyio.sleep(0.3)  # anything repeated would have arrived by now
            if follower.done():
                follower.result()  # raises the GapError, if that is what ended it
            follower.cancel()
    finally:
        server.stop()
    assert [r[1] for r in received] == list(range(1, 212))  # each once, in order
    assert {r[0] for r in received} == {epoch}
    by_offset = {p.offset: n for n, p in enumerate(positions)}
    assert [r[2] for r in received[:200]] == [{"n": by_offset[o]} for o in range(1, 201)]
    assert database(data_dir).exists()
    assert GapError  # imported so the failure of follow() reads as what it is


async def test_a_second_server_on_the_same_file_stops_naming_it(
    tmp_path: Path, data_dir: Path
) -> None:
    first = JupyterProcess(tmp_path, "")
    boot(first)
    try:
        path = database(data_dir)
        # the same root dir: the same default file
        second = JupyterProcess(tmp_path, "")
        second.start(wait=False)
        assert second.proc is not None and second.proc.wait(120) != 0
        assert f"the realtime database {path} is locked by another process" in second.output()
        # an explicit sqlite:// URL to the same file: the same
        third = JupyterProcess(tmp_path, f"sqlite://{path}")
        third.start(wait=False)
        assert third.proc is not None and third.proc.wait(120) != 0
        assert f"{path} is locked by another process" in third.output()
        # another root dir gets a file of its own
        other_root = tmp_path / "other"
        other_root.mkdir()
        fourth = JupyterProcess(other_root, "")
        boot(fourth)
        fourth.stop()
        assert len(list((data_dir / "realtime").glob("*.sqlite3"))) == 2
    finally:
        first.stop()


async def test_a_corrupt_file_stops_the_server_naming_it_and_is_left_alone(
    tmp_path: Path, data_dir: Path
) -> None:
    path = tmp_path / "channels.sqlite3"
    garbage = b"SQLite format 3\x00" + bytes(range(256)) * 40
    path.write_bytes(garbage)
    server = JupyterProcess(tmp_path, f"sqlite://{path}")
    server.start(wait=False)
    assert server.proc is not None and server.proc.wait(120) != 0
    assert f"the realtime database {path} is corrupt" in server.output()
    assert path.read_bytes() == garbage


async def test_the_latest_of_a_key_survives_kill_and_restart(
    tmp_path: Path, data_dir: Path
) -> None:
    """A keyed publication pushed out of history by later ones (history_size 5) is still
    the latest of its key after ``kill -9`` right after the last acknowledgement, and after
    a clean restart."""
    server = JupyterProcess(tmp_path, "", "--RealtimeApp.history_size=5")
    boot(server)
    url = server.http("realtime/api/channels/durable-keys")
    try:
        async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
            kept = (await http.post(url + "?key=header", json={"cell": 2})).json()
            for n in range(50):
                assert (await http.post(url, json={"n": n})).status_code == 200
        server.stop(signal.SIGKILL)
        for _ in range(2):
            boot(server)
            async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
                latest = (await http.get(url + "/history?key=header&limit=1")).json()
                plain = await history(server, "durable-keys")
            assert (latest["epoch"], latest["offset"]) == (kept["epoch"], 51)
            assert [(p["offset"], p["data"], p["key"]) for p in latest["publications"]] == [
                (1, {"cell": 2}, "header")
            ]
            assert [p["offset"] for p in plain["publications"]] == [47, 48, 49, 50, 51]
            server.stop()
    finally:
        server.stop()


def set_retention(server: JupyterProcess, rules: str) -> None:
    """``c.RealtimeApp.retention = <rules>`` in the server's jupyter_server_config.py."""
    config = server.workdir / "home" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.py").write_text(f"c.RealtimeApp.retention = {rules}\n")


async def publish_many(server: JupyterProcess, channel: str, count: int) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as client:
        for n in range(count):
            url = server.http(f"realtime/api/channels/{channel}")
            reply = await client.post(url, json={"n": n, "pad": "x" * 200})
            assert reply.status_code == 200, reply.text


async def test_retention_per_pattern_survives_kill_and_a_tighter_rule_trims_at_start(
    tmp_path: Path, data_dir: Path
) -> None:
    server = JupyterProcess(tmp_path, "")
    set_retention(server, '{"train:*": {"bytes": "1MiB"}, "chat:*": {"count": 5}}')
    boot(server)
    try:
        await publish_many(server, "train:run", 40)
        await publish_many(server, "chat:room", 40)
        server.stop(signal.SIGKILL)  # right after the last acknowledgement
        boot(server)
        train = await history(server, "train:run")
        chat = await history(server, "chat:room")
        assert [p["offset"] for p in train["publications"]] == list(range(1, 41))
        assert [p["offset"] for p in chat["publications"]] == list(range(36, 41))
        # a tighter rule, then a restart: trimmed as the file is read back, oldest first
        server.stop()
        set_retention(server, '{"train:*": {"count": 10}, "chat:*": {"count": 5}}')
        boot(server)
        again = await history(server, "train:run")
        assert again["epoch"] == train["epoch"] and again["offset"] == 40
        assert [p["offset"] for p in again["publications"]] == list(range(31, 41))
        async with httpx.AsyncClient(headers=server.headers, timeout=10) as client:
            base = server.http("realtime/api/channels/train:run/history")
            kept = await client.get(f"{base}?since=30&epoch={train['epoch']}")
            trimmed = await client.get(f"{base}?since=29&epoch={train['epoch']}")
        assert kept.json()["recovered"] is True
        assert trimmed.json()["recovered"] is False
        server.stop()  # what was trimmed is gone from the file too
        with sqlite3.connect(database(data_dir)) as db:
            rows = db.execute(
                "SELECT offset FROM publications WHERE channel = 'train:run' ORDER BY offset"
            ).fetchall()
        assert [r[0] for r in rows] == list(range(31, 41))
    finally:
        server.stop()


async def test_a_bad_retention_setting_stops_the_server_naming_it(tmp_path: Path, data_dir: Path):
    server = JupyterProcess(tmp_path, "")
    set_retention(server, '{"train:*": {"bytes": "lots"}}')
    server.start(wait=False)
    assert server.proc is not None and server.proc.wait(120) != 0
    assert "RealtimeApp.retention['train:*']['bytes']: cannot read 'lots'" in server.output()
