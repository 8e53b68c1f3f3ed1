"""A real ``redis-server`` and real Jupyter servers, started by the tests on free ports.

Public names: :class:`RedisServer`, :class:`RedisCluster` (three primaries made a Redis
Cluster by ``redis-cli --cluster create``), :class:`JupyterProcess`, :func:`free_port`, and
the fixtures :func:`redis_server`, :func:`redis_cluster`, :func:`redis_cluster_module`,
:func:`cluster_module` and :func:`cluster`. Import the fixtures into a test module (this
file is not a conftest, so that it stays out of the shared one).
Everything listens on 127.0.0.1 and is stopped by its PID.
"""

from __future__ import annotations

import json
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

    def __init__(self, workdir: Path, *options: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.options = list(options)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir), *self.options]
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


class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` primaries (no replicas) on free ports,
    joined by ``redis-cli --cluster create``. Each node keeps an append-only file fsynced
    on every write, so :meth:`restart_node` brings a primary back with what it kept."""

    size = 3

    def __init__(self, workdir: Path) -> None:
        self.nodes: list[RedisServer] = []
        for i in range(self.size):
            nodedir = workdir / f"node{i}"
            nodedir.mkdir(parents=True, exist_ok=True)
            self.nodes.append(
                RedisServer(
                    nodedir,
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(nodedir / "nodes.conf"),
                    "--cluster-port", str(free_port()),
                    "--cluster-node-timeout", "15000",  # a loaded machine is slow to ping
                    "--appendonly", "yes", "--appendfsync", "always",
                )
            )  # fmt: skip

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail("redis-cli is not installed (apt-get install -y redis-tools)")
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=30,
        )  # fmt: skip
        wait_for(self.ok, 20, "the Redis cluster")

    def info(self, node: RedisServer, command: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", node.port), timeout=1) as sock:
            sock.sendall(command)
            return sock.recv(65536)

    def ok(self) -> bool:
        """Every node answers and sees every slot served."""
        try:
            return all(b"cluster_state:ok" in self.info(n, b"CLUSTER INFO\r\n") for n in self.nodes)
        except OSError:
            return False

    def node_of(self, key: str) -> RedisServer:
        """The primary serving ``key`` (asked of the cluster, not computed here)."""
        reply = self.info(self.nodes[0], f"CLUSTER KEYSLOT {key}\r\n".encode())
        slot = int(reply[1:].split(b"\r\n")[0])
        for node in self.nodes:
            raw = self.info(node, b"CLUSTER MYID\r\n")
            myid = raw.split(b"\r\n")[1].decode()
            shards = self.info(node, b"CLUSTER NODES\r\n").decode()
            for line in shards.splitlines():
                fields = line.split()
                if len(fields) > 8 and fields[0] == myid:
                    for spec in fields[8:]:
                        lo, _, hi = spec.partition("-")
                        if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                            return node
        raise LookupError(f"no node serves slot {slot}")

    def restart_node(self, node: RedisServer) -> None:
        """Kill one primary and start it again with its append-only file and cluster
        config: it rejoins as the primary of its slots, with what it had fsynced."""
        node.stop()
        node.start()
        wait_for(self.ok, 30, "the Redis cluster after a restart")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def redis_cluster_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One cluster for a module (tests keep apart by key prefix: it takes seconds to make)."""
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


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
        (home / "config").mkdir(parents=True, exist_ok=True)
        # only this extension: the others double the start-up time
        others = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
        extensions = {"jupyter_realtime": True, **dict.fromkeys(others, False)}
        config = {"ServerApp": {"jpserver_extensions": extensions}}
        (home / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
        env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config")}
        env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
        args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={self.port}"]
        args += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--no-browser"]
        args += [f"--IdentityProvider.token={TOKEN}", "--allow-root"]
        args += [f"--ServerApp.root_dir={self.workdir}"]
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
        return reply.status_code in (200, 503)  # 503: up, but its Redis is not

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


class Cluster:
    """One Redis and two Jupyter servers sharing it."""

    def __init__(self, workdir: Path) -> None:
        self.redis = RedisServer(workdir)
        self.servers = [
            JupyterProcess(workdir, self.redis.url, "--RealtimeApp.redis_presence_ttl=1.5")
            for _ in range(2)
        ]

    def ensure_running(self) -> None:
        """Start whatever is not running (servers in parallel: their start-up is slow)."""
        if self.redis.proc is None:
            self.redis.start()
        stopped = [server for server in self.servers if server.proc is None]
        for server in stopped:
            server.start(wait=False)
        for server in stopped:
            wait_for(server.ready, 60, f"jupyter server on port {server.port}")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def cluster_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(cluster_module: Cluster) -> Cluster:
    """The module's Redis and two servers, running: a test may stop or kill any of them."""
    cluster_module.ensure_running()
    return cluster_module
