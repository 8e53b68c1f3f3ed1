"""The client reconnects when the server drops it, and resumes from the last offsets it saw."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from jupyter_realtime.client import AsyncChannel, AsyncClient, AsyncSubscription, GapError, State
from jupyter_realtime.errors import SLOW_CONSUMER


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"history_size": 3}


def hub_of(serverapp: Any) -> Any:
    (app,) = serverapp.extension_manager.extension_apps["jupyter_realtime"]
    return app.hub


def drop(hub: Any, channel: str, how: str) -> None:
    """Close the server side of the one connection subscribed to ``channel``."""
    (session,) = hub._subscribers[channel].values()
    if how == "close":
        session.close(SLOW_CONSUMER)  # a close frame with code 4000
    else:
        session.transport.stream.close()  # no close frame: the TCP connection just ends


async def take(sub: AsyncSubscription, n: int) -> list[Any]:
    with anyio.fail_after(10):
        return [(await sub.__anext__()).data for _ in range(n)]


@asynccontextmanager
async def away(
    server: Any, serverapp: Any, channel: str, how: str, missed: Iterable[int]
) -> AsyncIterator[tuple[AsyncClient, AsyncChannel, AsyncSubscription]]:
    """A subscriber that saw publication 1, was dropped, and missed ``missed`` meanwhile."""
    hub = hub_of(serverapp)
    async with AsyncClient(server.http(), server.token, backoff=(0.2, 1.0)) as client:
        ch = client.channel(channel)
        async with ch.subscribe() as sub:
            await ch.publish(1)
            assert await take(sub, 1) == [1]
            drop(hub, channel, how)
            for i in missed:  # published while the client is away
                await hub.publish(channel, orjson.dumps(i))
            yield client, ch, sub


@pytest.mark.parametrize("how", ["close", "abort"])
async def test_resumes_without_loss_or_duplicates(server: Any, jp_serverapp: Any, how: str) -> None:
    async with away(server, jp_serverapp, "resume", how, (2, 3, 4)) as (client, ch, sub):
        assert await take(sub, 3) == [2, 3, 4]
        assert client.state is State.OPEN
        await ch.publish(5)
        assert await take(sub, 1) == [5]
        assert [m.offset for m in await ch.history(limit=3)] == [3, 4, 5]


async def test_gap_beyond_history_is_raised_then_delivery_goes_on(
    server: Any, jp_serverapp: Any
) -> None:
    # more than the 3 publications the server keeps
    async with away(server, jp_serverapp, "gap", "close", range(2, 8)) as (_, ch, sub):
        with pytest.raises(GapError) as gap:
            await take(sub, 1)
        assert gap.value.code.value == "unavailable"
        assert gap.value.last is not None and gap.value.last.offset == 1
        assert gap.value.position.offset == 7
        assert await take(sub, 3) == [5, 6, 7]  # what the server still had
        await ch.publish(8)
        assert await take(sub, 1) == [8]


async def test_a_command_in_flight_when_the_connection_drops(
    server: Any, jp_serverapp: Any
) -> None:
    hub = hub_of(jp_serverapp)
    async with AsyncClient(server.http(), server.token, backoff=(0.2, 1.0)) as client:
        ch = client.channel("inflight")
        async with ch.subscribe():
            drop(hub, "inflight", "close")
            # sent before the client saw the close, or queued and sent after reconnecting:
            # either way it either succeeds or says the connection was lost
            try:
                await ch.publish(1)
            except Exception as exc:
                assert type(exc).__name__ == "ConnectionLost"
            assert (await ch.publish(2)).offset >= 1


# -- a server that restarts on another port with a new token --


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# the other installed extensions only slow the start down
ONLY_REALTIME = {
    "jupyter_realtime": True,
    **dict.fromkeys(
        ["jupyterlab", "jupyter_lsp", "notebook", "notebook_shim", "jupyter_server_terminals"],
        False,
    ),
}


def start_server(root: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
            f"--ServerApp.jpserver_extensions={ONLY_REALTIME}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def wait_until_serving(runtime: Path, proc: subprocess.Popen[bytes], port: int) -> None:
    """Until the server has written its runtime file and accepts connections."""
    with anyio.fail_after(60):
        while True:
            assert proc.poll() is None, "the server exited"
            if list(runtime.glob(f"jpserver-{proc.pid}.json")):
                try:
                    await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                    return
                except OSError:
                    pass
            await anyio.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
async def test_finds_a_restarted_server_again(tmp_path: Path, monkeypatch: Any) -> None:
    runtime = tmp_path / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))  # the servers' database
    monkeypatch.delenv("JUPYTER_REALTIME_URL", raising=False)
    monkeypatch.delenv("JUPYTER_REALTIME_TOKEN", raising=False)
    port = free_port()
    first = start_server(tmp_path, port, "first-token")
    second = None
    try:
        await wait_until_serving(runtime, first, port)
        async with AsyncClient(backoff=(0.1, 0.5)) as client:
            assert client.endpoint is not None and client.endpoint.token == "first-token"
            ch = client.channel("restart")
            async with ch.subscribe() as sub:
                await ch.publish(1)
                assert await take(sub, 1) == [1]
                await asyncio.to_thread(stop, first)
                port = free_port()
                second = start_server(tmp_path, port, "second-token")
                await wait_until_serving(runtime, second, port)
                await ch.publish(2)  # waits for the reconnection
                # the same root dir, the same channels' file: no gap, the epoch goes on
                assert await take(sub, 1) == [2]
            assert client.endpoint.token == "second-token"
    finally:
        for proc in (first, second):
            if proc is not None:
                await asyncio.to_thread(stop, proc)
    assert os.environ.get("JUPYTER_REALTIME_URL") is None
