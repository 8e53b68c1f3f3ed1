"""Real ``jupyter server`` subprocesses, with or without the extension, for the command line.

Public names: :class:`Server`, :func:`started`, :func:`run_cli`, :func:`free_port`.

Each server listens on a free 127.0.0.1 port, writes its runtime file to the runtime dir it
is given (so that discovery finds it there, as ``list_running_servers`` does) and its log to
a file; it is stopped by its PID. Only the extensions named run: the others double the
start-up time on a loaded machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

JUPYTER = str(Path(sys.executable).with_name("jupyter"))
OTHERS = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A ``jupyter server`` subprocess; ``realtime`` says whether the extension is enabled.

    Its user config dir is :attr:`config_dir` (``JUPYTER_CONFIG_DIR``); ``env`` adds to the
    environment it starts with."""

    def __init__(
        self, home: Path, root_dir: Path, runtime_dir: Path, token: str, realtime: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.home, self.root_dir, self.runtime_dir = home, root_dir, runtime_dir
        self.token, self.realtime = token, realtime
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = home / f"jupyter-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config_dir(self) -> Path:
        return self.home / f"config-{self.port}"

    def start(self) -> None:
        config = self.config_dir
        config.mkdir(parents=True, exist_ok=True)
        extensions = {"jupyter_realtime": self.realtime, **dict.fromkeys(OTHERS, False)}
        settings: dict[str, Any] = {"ServerApp": {"jpserver_extensions": extensions}}
        # servers of one root dir would share (and lock) one SQLite file: these tests are
        # about finding servers, so their channels live in memory
        settings["RealtimeApp"] = {"broker_url": "memory://"}
        (config / "jupyter_server_config.json").write_text(json.dumps(settings))
        env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER_")}
        env.update(
            HOME=str(self.home),
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_DATA_DIR=str(self.home / "data"),
            JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
        )
        env.update(self.extra_env)
        args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={self.port}"]
        args += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--no-browser"]
        args += [f"--IdentityProvider.token={self.token}", "--allow-root", "--debug"]
        args += [f"--ServerApp.root_dir={self.root_dir}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.home
            )

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited: {self.output()[-3000:]}")
        try:
            answer = httpx.get(self.url + "api", timeout=1)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and any(self.runtime_dir.glob("jpserver-*.json"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def started(*servers: Server, timeout: float = 90.0) -> Iterator[tuple[Server, ...]]:
    """Start the servers together (their start-up is slow), wait until each answers and has
    written its runtime file; stop them all at the end."""
    try:
        for server in servers:
            server.start()
        deadline = time.monotonic() + timeout
        waiting = list(servers)
        while waiting:
            waiting = [server for server in waiting if not server.ready()]
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"jupyter server not ready (log: {waiting[0].log})")
            time.sleep(0.1)
        yield servers
    finally:
        for server in servers:
            server.stop()


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    """``jupyter realtime ARGS`` in a subprocess: exit code, stdout, stderr."""
    proc = subprocess.run(
        [JUPYTER, "realtime", *args], capture_output=True, env=env, timeout=timeout, check=False
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()
