"""A Jupyter server with jupyter-realtime as a subprocess, for the fuzz and soak runs.

Public names: :func:`hub_server`, :data:`TOKEN`, :func:`server_errors`, :func:`report`.
The server listens on a free 127.0.0.1 port with its own temporary root, runtime and
config directories; its stdout and stderr go to a log file that :func:`server_errors`
scans for tracebacks and error lines afterwards. It is stopped by PID (``launcher``),
also on Ctrl-C.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from benchmarks.launcher import Server
from benchmarks.targets import Publish, Subscribe, Target, _jupyter_server

__all__ = ["TOKEN", "hub_server", "report", "server_errors"]

TOKEN = "realtime-stress-token"
# lines a healthy server never writes: tracebacks, ERROR-level records, lost task errors
ERROR_LINE = re.compile(
    r"Traceback \(most recent call last\)|^\[E |Uncaught exception|"
    r"Task exception was never retrieved|Exception in callback",
    re.MULTILINE,
)


def _command(workdir: Path, options: list[str]) -> Target:
    def command(port: int) -> list[str]:
        # the benchmarks' server, with our own root and token
        ours = ("--ServerApp.root_dir=", "--IdentityProvider.token=")
        return [
            *(arg for arg in _jupyter_server(port) if not arg.startswith(ours)),
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={workdir}",
            *options,
        ]

    return Target(
        name="jupyter_realtime",
        command=command,
        subscribe=Subscribe("ws", "/realtime/ws"),
        publish=Publish("http", "/realtime/api/channels/bench"),
        headers={"Authorization": f"token {TOKEN}"},
        ready_path="/api/status",
        startup_timeout=60.0,
        env={
            "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "JUPYTER_PLATFORM_DIRS": "1",
        },
    )


@contextmanager
def hub_server(workdir: Path, options: list[str] = ()) -> Iterator[Server]:  # type: ignore[assignment]
    """Start the server (``options``: extra ``--RealtimeApp.x=y`` arguments), yield it."""
    workdir.mkdir(parents=True, exist_ok=True)
    with Server(_command(workdir, list(options)), workdir) as server:
        yield server


def server_errors(server: Server) -> list[str]:
    """The error lines (with a little context) the server wrote to its log."""
    text = server.log_path.read_text(errors="replace")
    found = []
    for match in ERROR_LINE.finditer(text):
        start = text.rfind("\n", 0, match.start()) + 1
        found.append(text[start : start + 600])
    return found


def report(result: dict[str, Any], path: Path | None) -> NoReturn:
    """Print the result as JSON (and write it to ``path``); exit 0 only if it is ``ok``."""
    text = json.dumps(result, indent=2)
    print(text)
    if path is not None:
        path.write_text(text)
    sys.exit(0 if result["ok"] else 1)
