"""The servers under test. Adding one = how to start it, where to subscribe, how to publish.

A :class:`Target` is pure data: a command line for a port, the subscriber endpoint and its
dialect (plain WebSocket with an optional first command, Socket.IO, or SSE), the publish
trigger (HTTP ``POST`` or a control WebSocket), headers sent with every request, and an
optional ``check`` that explains why a target cannot run here (it is then skipped).
"""

from __future__ import annotations

import functools
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parent.parent
TOKEN = secrets.token_hex(16)  # per run, for the Jupyter server targets


@dataclass(frozen=True)
class Subscribe:
    """Where subscribers connect and how they speak."""

    kind: Literal["ws", "socketio", "sse"]
    path: str
    first_message: bytes | None = None  # a WebSocket text frame sent after the upgrade


@dataclass(frozen=True)
class Publish:
    """The publish trigger: ``POST path`` with the JSON body, or text messages on a WebSocket."""

    kind: Literal["http", "ws"]
    path: str


@dataclass(frozen=True)
class Target:
    name: str
    command: Callable[[int], list[str]]  # port -> argv, run with the repository as cwd
    subscribe: Subscribe
    publish: Publish
    headers: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/"
    not_ready_statuses: tuple[int, ...] = ()
    startup_timeout: float = 15.0
    env: dict[str, str] = field(default_factory=dict)
    check: Callable[[], str | None] = lambda: None  # a reason to skip, or None


def _module(name: str) -> Callable[[int], list[str]]:
    return lambda port: [sys.executable, "-m", f"benchmarks.servers.{name}", "--port", str(port)]


def _reference(
    name: str, subscribe: Subscribe, publish: Publish = Publish("http", "/publish")
) -> Target:
    return Target(name=name, command=_module(name), subscribe=subscribe, publish=publish)


REFERENCE: list[Target] = [
    _reference("tornado_write_message", Subscribe("ws", "/ws")),
    _reference("tornado_encode_once", Subscribe("ws", "/ws")),
    _reference("tornado_sse", Subscribe("sse", "/sse")),
    _reference("websockets_broadcast", Subscribe("ws", "/ws"), Publish("ws", "/pub")),
    _reference("socketio_uvicorn", Subscribe("socketio", "/socket.io/?EIO=4&transport=websocket")),
]


# --- jupyter-realtime: a Jupyter server with the extension -----------------------------

_HUB_DIR = REPO / "benchmarks" / "results" / "jupyter"  # root and runtime dir (ignored by git)


def _jupyter_server(port: int, broker: str = "sqlite") -> list[str]:
    """``jupyter server ...``, run as ``python -m jupyter_server`` so the PID is the server's.

    ``broker``: ``sqlite`` (the default broker, on a new file for each server process, so
    that runs start alike and never share a file) or ``memory``."""
    _HUB_DIR.mkdir(parents=True, exist_ok=True)
    if broker == "memory":
        url = "memory://"
    else:
        database = _HUB_DIR / "data" / f"bench-{port}.sqlite3"
        for old in database.parent.glob(f"{database.name}*"):
            old.unlink()
        url = f"sqlite://{database}"
    return [
        sys.executable, "-m", "jupyter_server",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={TOKEN}",
        "--ServerApp.port_retries=0",
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.jpserver_extensions={'jupyter_realtime': True}",
        f"--ServerApp.root_dir={_HUB_DIR}",
        # every subscriber is the same token user: no per-user connection limit
        "--RealtimeApp.max_connections_per_user=0",
        f"--RealtimeApp.broker_url={url}",
    ]  # fmt: skip


@functools.cache
def _hub_importable() -> str | None:
    """Why the extension cannot run here, or None. Imported in a child, as the server will."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import jupyter_realtime.app"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "importing jupyter_realtime.app took over 60 s"
    if done.returncode == 0:
        return None
    last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
    return f"the extension is not importable yet ({last})"


def _hub(
    name: str, subscribe: Subscribe, env: dict[str, str] | None = None, broker: str = "sqlite"
) -> Target:
    return Target(
        name=name,
        command=functools.partial(_jupyter_server, broker=broker),
        subscribe=subscribe,
        publish=Publish("http", "/realtime/api/channels/bench"),
        headers={"Authorization": f"token {TOKEN}"},
        ready_path="/api/status",
        startup_timeout=60.0,
        env={
            "JUPYTER_RUNTIME_DIR": str(_HUB_DIR / "runtime"),
            "JUPYTER_DATA_DIR": str(_HUB_DIR / "data"),  # the channels' database
            "JUPYTER_PLATFORM_DIRS": "1",
            **(env or {}),
        },
        check=_hub_importable,
    )


HUB: list[Target] = [
    _hub(
        "jupyter_realtime_ws",
        Subscribe("ws", "/realtime/ws", b'{"id":1,"op":"subscribe","channel":"bench"}'),
    ),
    _hub("jupyter_realtime_sse", Subscribe("sse", "/realtime/sse?channel=bench")),
]
_WS = HUB[0].subscribe
_SSE = HUB[1].subscribe
# the same servers writing every frame at once (no coalescing), to measure what it changes
HUB += [
    _hub("jupyter_realtime_ws_uncoalesced", _WS, {"JUPYTER_REALTIME_COALESCE": "0"}),
    _hub("jupyter_realtime_sse_uncoalesced", _SSE, {"JUPYTER_REALTIME_COALESCE": "0"}),
]
# the same servers with the in-memory broker instead of the durable default, to measure
# what keeping channels in SQLite costs
HUB += [
    _hub("jupyter_realtime_ws_memory", _WS, broker="memory"),
    _hub("jupyter_realtime_sse_memory", _SSE, broker="memory"),
]

ALL: dict[str, Target] = {t.name: t for t in REFERENCE + HUB}
