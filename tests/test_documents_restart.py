"""A shared document survives a restart of its server: the stored document brings the text
back, and a client that kept its document across the restart gets its offline edit in:
nothing lost, nothing doubled. With the in-memory broker the snapshot is a file under
Jupyter's data directory, the channel starts a new epoch and the client merges once; with
the durable default (SQLite) the document is a row of the broker's database, the channel
resumes where it was and no merge is needed. ``kill -9`` of the SQLite server loses no
acknowledged edit, whether or not a snapshot was saved since."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from pycrdt import Doc, Text

from jupyter_realtime.client import AsyncClient
from jupyter_realtime.documents import FileStore, Snapshot
from jupyter_realtime.widgets._shared_doc import SharedDocument

TOKEN = "restart-token"


class JupyterServer:
    """``jupyter server`` with only this extension on ``port``; ``data`` is its data dir."""

    def __init__(self, tmp: Path, port: int, broker_url: str = "", *extra: str) -> None:
        self.tmp, self.port, self.broker_url, self.extra = tmp, port, broker_url, list(extra)
        self.url = f"http://127.0.0.1:{port}/"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "JUPYTER_DATA_DIR": str(self.tmp / "data"),
               "JUPYTER_RUNTIME_DIR": str(self.tmp / "runtime"),
               "JUPYTER_CONFIG_DIR": str(self.tmp / "config")}
        off = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
        args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={self.port}",
                "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--no-browser",
                f"--IdentityProvider.token={TOKEN}", "--allow-root",
                f"--ServerApp.root_dir={self.tmp}",
                f"--RealtimeApp.broker_url={self.broker_url}", *self.extra,
                "--ServerApp.jpserver_extensions={'jupyter_realtime': True, "
                + ", ".join(f"'{name}': False" for name in off) + "}"]
        with (self.tmp / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90  # a loaded machine starts it slowly
        while True:
            assert self.proc.poll() is None, (self.tmp / "server.log").read_text()[-3000:]
            try:
                httpx.get(self.url + "realtime/api/channels", timeout=2,
                          headers={"Authorization": f"token {TOKEN}"}).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError("jupyter server did not start") from None
                time.sleep(0.2)

    @property
    def log(self) -> str:
        return (self.tmp / "server.log").read_text()

    def database(self) -> Path:
        """The SQLite broker's file (the default broker)."""
        (found,) = (self.tmp / "data" / "realtime").glob("*.sqlite3")
        return found

    def stored(self, channel: str) -> Snapshot | None:
        """The stored document of ``channel`` (read with the server stopped)."""
        db = sqlite3.connect(self.database())
        try:
            row = db.execute(
                "SELECT epoch, offset, state FROM documents WHERE name = ?", (channel,)
            ).fetchone()
        finally:
            db.close()
        return None if row is None else Snapshot(row[0], row[1], row[2])

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["memory://", ""], ids=["memory", "sqlite"])
def jupyter(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[JupyterServer]:
    server = JupyterServer(tmp_path, free_port(), request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def until(predicate: object, timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await anyio.sleep(0.05)


async def test_restart_keeps_the_text_and_merges_offline_edits_once(jupyter: JupyterServer) -> None:
    async with AsyncClient(jupyter.url, TOKEN, backoff=(0.1, 0.5)) as client:
        doc = SharedDocument(client, "team:etl")
        await doc.start()
        doc.text += "before restart\n"
        await client.channel("team:etl").flush()
        await anyio.to_thread.run_sync(jupyter.stop)  # a clean stop saves the snapshot
        files = FileStore(jupyter.tmp / "data" / "realtime" / "documents")
        if jupyter.broker_url == "memory://":
            snapshot = await files.load("team:etl")
        else:  # a row of the broker's database, and no file
            snapshot = jupyter.stored("team:etl")
            assert not files.directory.exists()
        assert snapshot is not None
        saved: Doc = Doc()
        saved.apply_update(snapshot.state)
        assert str(saved.get("source", type=Text)) == "before restart\n"
        doc.text += "typed while the server was down\n"
        await anyio.to_thread.run_sync(jupyter.start)
        expected = "before restart\ntyped while the server was down\n"
        async with AsyncClient(jupyter.url, TOKEN) as other:
            joiner = SharedDocument(other, "team:etl")
            await joiner.start()
            assert joiner.value.startswith("before restart\n")  # from the snapshot
            merges = 1 if jupyter.broker_url == "memory://" else 0  # sqlite: resumed
            await until(lambda: joiner.value == expected and doc.merges == merges)
            await anyio.sleep(0.3)  # the merge's publication, if any, has arrived
            assert doc.value == joiner.value == expected
            doc.text += "after\n"
            await until(lambda: joiner.value == expected + "after\n")


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[JupyterServer]:
    """The default broker; snapshots only when a document is let go or the server stops."""
    server = JupyterServer(tmp_path, free_port(), "", "--RealtimeApp.documents_save_delay=3600",
                           "--RealtimeApp.documents_save_bytes=100000000")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_kill_9_keeps_every_acknowledged_edit(sqlite_server: JupyterServer) -> None:
    server = sqlite_server
    expected = ""
    for round_ in range(2):  # without any snapshot, then after a snapshot and more edits
        async with AsyncClient(server.url, TOKEN) as client:
            doc = SharedDocument(client, "team:kill")
            await doc.start()
            assert doc.value == expected
            for i in range(50):
                doc.text += f"{round_}.{i} "
            await client.channel("team:kill").flush()  # every publication acknowledged
            expected = doc.value
        if round_ == 0:
            await anyio.to_thread.run_sync(server.kill)
            assert server.stored("team:kill") is None  # no snapshot was saved: history only
        else:
            await anyio.to_thread.run_sync(server.stop)
            await anyio.to_thread.run_sync(server.start)
            async with AsyncClient(server.url, TOKEN) as client:
                doc = SharedDocument(client, "team:kill")
                await doc.start()
                doc.text += "last"
                await client.channel("team:kill").flush()
                expected = doc.value
            await anyio.to_thread.run_sync(server.kill)
            stored = server.stored("team:kill")
            assert stored is not None and stored.offset == 100  # the clean stop's snapshot
        await anyio.to_thread.run_sync(server.start)
    async with AsyncClient(server.url, TOKEN) as client:
        joiner = SharedDocument(client, "team:kill")
        await joiner.start()
        assert joiner.value == expected
        assert expected.count("1.49 ") == 1 and expected.endswith("last")
