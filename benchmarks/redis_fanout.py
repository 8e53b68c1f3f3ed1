"""Fan-out across two Jupyter servers through Redis, beside the memory broker, in one run.

Usage::

    python -m benchmarks.redis_fanout [--subscribers 50] [--messages 2000] [--rate 500]

Starts a ``redis-server`` and three ``jupyter server`` subprocesses on free 127.0.0.1
ports: one with the memory broker, two sharing the Redis broker. Per scenario,
WebSocket subscribers (``--subscribers`` per server) subscribe to one channel and one
WebSocket publisher sends ``--messages`` publications at ``--rate`` per second (0: as
fast as the replies come back) to the first server. Each publication carries its send
time, so each delivery gives a latency (same clock: the clients share this process).

* ``memory``: every subscriber on the one memory-broker server (2 x ``--subscribers``).
* ``redis``: half the subscribers on each of the two Redis servers; the publisher on
  the first. Reported for both servers and for each (``local`` and ``remote``).

Prints deliveries per second and latency p50/p99 per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect

TOKEN = "bench-token"
CHANNEL = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start in {timeout} s")
        time.sleep(0.1)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    proc = subprocess.Popen([*args, "no"], cwd=workdir, stdout=subprocess.DEVNULL)

    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(ready, "redis-server")
    return proc, f"redis://127.0.0.1:{port}/0"


def start_jupyter(
    workdir: Path, broker_url: str, *extra: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    home = workdir / f"home-{port}"
    (home / "config").mkdir(parents=True)
    others = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
    extensions = {"jupyter_realtime": True, **dict.fromkeys(others, False)}
    config = {"ServerApp": {"jpserver_extensions": extensions}}
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config")}
    args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={port}"]
    args += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--no-browser"]
    args += [f"--IdentityProvider.token={TOKEN}", "--allow-root", f"--ServerApp.root_dir={home}"]
    args += [f"--RealtimeApp.broker_url={broker_url}", "--ServerApp.log_level=WARN", *extra]
    log = open(workdir / f"jupyter-{port}.log", "wb")  # noqa: SIM115 - lives with the process
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT), port


def server_ready(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/realtime/api/channels"
    try:
        return httpx.get(url, headers={"Authorization": f"token {TOKEN}"}).status_code == 200
    except httpx.HTTPError:
        return False


def ws_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/realtime/ws?token={TOKEN}"


async def subscriber(port: int, expected: int, latencies: list[float], ready: Any) -> None:
    async with connect(ws_url(port), max_queue=None) as ws:
        await ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": CHANNEL}).decode())
        while "id" not in orjson.loads(await ws.recv()):
            pass
        ready.release()
        got = 0
        while got < expected:
            frame = orjson.loads(await ws.recv())
            if "offset" in frame:
                latencies.append(time.perf_counter() - frame["data"]["t"])
                got += 1


async def publisher(
    port: int, messages: int, rate: float, channels: tuple[str, ...] = (CHANNEL,)
) -> float:
    """Publish ``messages`` round-robin over ``channels``; at most ``rate`` per second, at
    most 64 unanswered. Each carries its send time and the publishing server's port."""
    window = asyncio.Semaphore(64)
    async with connect(ws_url(port), max_queue=None) as ws:

        async def replies() -> None:
            for _ in range(messages):
                reply = orjson.loads(await ws.recv())
                if "error" in reply:
                    raise SystemExit(f"publish failed: {reply}")
                window.release()

        reader = asyncio.ensure_future(replies())
        began = time.perf_counter()
        for i in range(messages):
            if rate:
                await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            await window.acquire()
            data = {"t": time.perf_counter(), "i": i, "from": port}
            cmd = {"id": i, "op": "publish", "channel": channels[i % len(channels)], "data": data}
            await ws.send(orjson.dumps(cmd).decode())
        await reader
        return began


async def scenario(ports: list[int], per_server: int, messages: int, rate: float) -> dict:
    latencies: dict[int, list[float]] = {port: [] for port in ports}
    ready = asyncio.Semaphore(0)
    subs = [
        asyncio.ensure_future(subscriber(port, messages, latencies[port], ready))
        for port in ports
        for _ in range(per_server)
    ]
    for _ in subs:
        await ready.acquire()
    began = await publisher(ports[0], messages, rate)
    await asyncio.wait_for(asyncio.gather(*subs), 120)
    elapsed = time.perf_counter() - began
    every = [x for values in latencies.values() for x in values]
    per_server = {port: summary(values, elapsed) for port, values in latencies.items()}
    return {"all": summary(every, elapsed), **per_server}


def summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    values = sorted(latencies)

    def pct(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    return {
        "deliveries": len(values),
        "per_s": len(values) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def line(name: str, s: dict[str, float]) -> str:
    return (
        f"{name:<16} {s['deliveries']:>9.0f} {s['per_s']:>13,.0f} "
        f"{s['p50_ms']:>9.2f} {s['p99_ms']:>9.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=50, help="per server (default 50)")
    parser.add_argument("--messages", type=int, default=2000, help="publications (default 2000)")
    parser.add_argument("--rate", type=float, default=500, help="per second; 0: unpaced")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="redis-fanout-") as tmp:
        workdir = Path(tmp)
        redis_proc, redis_url = start_redis(workdir)
        procs: list[subprocess.Popen[bytes]] = [redis_proc]
        try:
            memory, mem_port = start_jupyter(workdir, "")
            one, port_one = start_jupyter(workdir, redis_url)
            two, port_two = start_jupyter(workdir, redis_url)
            procs += [memory, one, two]
            for port in (mem_port, port_one, port_two):
                wait_until(lambda port=port: server_ready(port), f"jupyter server {port}")
            n, m, rate = opts.subscribers, opts.messages, opts.rate
            mem = asyncio.run(scenario([mem_port], 2 * n, m, rate))
            red = asyncio.run(scenario([port_one, port_two], n, m, rate))
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(15)
    paced = f"{opts.rate:g}/s" if opts.rate else "unpaced"
    print(f"{2 * n} WebSocket subscribers, {m} publications ({paced}), one channel")
    print(f"{'scenario':<16} {'delivered':>9} {'deliveries/s':>13} {'p50 ms':>9} {'p99 ms':>9}")
    print(line("memory", mem["all"]))
    print(line("redis (both)", red["all"]))
    print(line("redis local", red[port_one]))
    print(line("redis remote", red[port_two]))


if __name__ == "__main__":
    main()
