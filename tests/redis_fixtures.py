"""A real ``redis-server`` and real Jupyter servers, started by the tests on free ports.

Public names: :class:`RedisServer`, :class:`JupyterProcess`, :func:`free_port`, and the
fixtures :func:`redis_server` and :func:`jupyter_servers`. Import the fixtures into a
test module (this file is not a conftest, so that it stays out of the shared one).
Everything listens on 127.0.0.1 and is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

TOKEN = "redis-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout} s")


class RedisServer:
    """``redis-server`` without persistence on a free port; ``restart`` loses its data."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(self.ping, 10, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        """Kill and start again on the same port: every key is gone, as after a crash."""
        self.stop()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class JupyterProcess:
    """A ``jupyter server`` subprocess with the extension and a Redis broker."""

    def __init__(self, workdir: Path, redis_url: str, *extra: str) -> None:
        self.workdir = workdir
        self.redis_url = redis_url
        self.extra = list(extra)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"jupyter-{self.port}.log"
        self.headers = {"Authorization": f"token {TOKEN}"}

    def http(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def ws(self, path: str = "realtime/ws") -> str:
        return f"ws://127.0.0.1:{self.port}/{path}?token={TOKEN}"

    def start(self, wait: bool = True) -> None:
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config")}
        env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
        args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={self.port}"]
        args += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--no-browser"]
        args += [f"--IdentityProvider.token={TOKEN}", "--allow-root"]
        args += [f"--ServerApp.root_dir={self.workdir}"]
        args += ["--ServerApp.jpserver_extensions=jupyter_realtime=True"]
        args += [f"--RealtimeApp.broker_url={self.redis_url}", *self.extra]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        if wait:
            wait_for(self.ready, 30, f"jupyter server on port {self.port} (log: {self.log})")

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited: {self.log.read_text()[-3000:]}")
        try:
            reply = httpx.get(self.http("realtime/api/channels"), headers=self.headers, timeout=1)
        except httpx.HTTPError:
            return False
        return reply.status_code == 200

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def jupyter_servers(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[JupyterProcess]]:
    """Two Jupyter servers sharing ``redis_server``; started in parallel."""
    servers = [
        JupyterProcess(tmp_path, redis_server.url, "--RealtimeApp.redis_presence_ttl=1.5")
        for _ in range(2)
    ]
    try:
        for server in servers:
            server.start(wait=False)
        for server in servers:
            wait_for(server.ready, 30, f"jupyter server on port {server.port}")
        yield servers
    finally:
        for server in servers:
            server.stop()
