"""Several Jupyter servers on one Redis and on a three-primary Redis Cluster, in one run.

Usage::

    python -m benchmarks.redis_cluster [--servers 4] [--connections 250] [--channels 100]
                                       [--messages 4000] [--rate 1000]

Per backend (``redis``: one ``redis-server``; ``cluster``: three primaries joined by
``redis-cli --cluster create``, sharded pub/sub) it starts ``--servers`` Jupyter servers
and opens ``--connections`` WebSocket subscribers on each, each subscribed to one of
``--channels`` channels (round robin, so every channel has subscribers on every server).
One publisher per server sends its share of ``--messages`` publications, spread over the
channels, at ``--rate`` per second in all. Each publication carries its send time and
origin server, so each delivery gives a latency; *cross-server* counts the deliveries on
a server other than the publisher's.

Prints deliveries/s, latency p50/p99 (all and cross-server), and the CPU time of Redis
(all its processes) and of the Jupyter servers per publication.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

from .procstat import cpu_seconds, raise_nofile
from .redis_fanout import (
    free_port,
    publisher,
    server_ready,
    start_jupyter,
    start_redis,
    wait_until,
    ws_url,
)


def start_cluster(workdir: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        raise SystemExit("redis-server and redis-cli are needed")
    procs, ports = [], [free_port() for _ in range(3)]
    for port in ports:
        nodedir = workdir / f"node-{port}"
        nodedir.mkdir()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--cluster-enabled", "yes", "--dir", str(nodedir)]
        args += ["--cluster-config-file", "nodes.conf", "--cluster-port", str(free_port())]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
    time.sleep(0.5)
    addresses = [f"127.0.0.1:{port}" for port in ports]
    subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-replicas", "0",
                    "--cluster-yes"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip

    def ok() -> bool:
        info = [subprocess.run([cli, "-p", str(p), "cluster", "info"], capture_output=True)
                for p in ports]  # fmt: skip
        return all(b"cluster_state:ok" in r.stdout for r in info)

    wait_until(ok, "the Redis cluster")
    return procs, f"redis+cluster://127.0.0.1:{ports[0]}"


async def subscriber(port: int, channel: str, expected: int, out: list[Any], ready: Any) -> None:
    async with connect(ws_url(port), max_queue=None) as ws:
        await ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": channel}).decode())
        while "id" not in orjson.loads(await ws.recv()):
            pass
        ready.release()
        for _ in range(expected):
            frame = orjson.loads(await ws.recv())
            while "offset" not in frame:
                frame = orjson.loads(await ws.recv())
            now = time.perf_counter()
            out.append((now - frame["data"]["t"], frame["data"]["from"] != port, now))


async def scenario(ports: list[int], opts: Any, pids: list[int], servers: list[int]) -> dict:
    channels = [f"bench-{i}" for i in range(opts.channels)]
    per_publisher = opts.messages // len(ports) // len(channels) * len(channels)
    total = per_publisher * len(ports)
    out: list[Any] = []
    ready = asyncio.Semaphore(0)
    subs = []
    for port in ports:
        for i in range(opts.connections):
            expected = total // len(channels)
            task = subscriber(port, channels[i % len(channels)], expected, out, ready)
            subs.append(asyncio.ensure_future(task))
    for _ in subs:
        await ready.acquire()
    redis_cpu = sum(cpu_seconds(pid) for pid in pids)
    server_cpu = sum(cpu_seconds(pid) for pid in servers)
    began = time.perf_counter()
    rate = opts.rate / len(ports)
    await asyncio.gather(*(publisher(p, per_publisher, rate, tuple(channels)) for p in ports))
    _, late = await asyncio.wait(subs, timeout=opts.timeout)
    for task in late:  # reported as missing (a delivery that never came, or very late)
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    elapsed = max(now for _, _, now in out) - began  # until the last delivery
    every = sorted(x for x, _, _ in out)
    cross = sorted(x for x, remote, _ in out if remote)
    return {
        "publications": total,
        "deliveries": len(every),
        "missing": len(subs) * (total // len(channels)) - len(every),
        "per_s": len(every) / elapsed,
        "p50": pct(every, 0.5), "p99": pct(every, 0.99),
        "cross_p50": pct(cross, 0.5), "cross_p99": pct(cross, 0.99),
        "redis_us": (sum(cpu_seconds(pid) for pid in pids) - redis_cpu) / total * 1e6,
        "server_us": (sum(cpu_seconds(pid) for pid in servers) - server_cpu) / total * 1e6,
    }  # fmt: skip


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def run(backend: str, opts: Any) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"redis-{backend}-") as tmp:
        workdir = Path(tmp)
        if backend == "cluster":
            redis_procs, url = start_cluster(workdir)
        else:
            proc, url = start_redis(workdir)
            redis_procs = [proc]
        procs = list(redis_procs)
        try:
            unlimited = "--RealtimeApp.max_connections_per_user=0"  # one user holds them all
            started = [start_jupyter(workdir, url, unlimited) for _ in range(opts.servers)]
            procs += [proc for proc, _ in started]
            ports = [port for _, port in started]
            for port in ports:
                wait_until(lambda port=port: server_ready(port), f"jupyter server {port}")
            return asyncio.run(scenario(ports, opts, [p.pid for p in redis_procs],
                                        [p.pid for p, _ in started]))  # fmt: skip
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=250, help="per server")
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--messages", type=int, default=4000, help="publications in all")
    parser.add_argument("--rate", type=float, default=1000, help="per second in all; 0: unpaced")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for all")
    opts = parser.parse_args()
    raise_nofile()
    results = {backend: run(backend, opts) for backend in ("redis", "cluster")}
    print(f"{opts.servers} servers x {opts.connections} WebSocket connections, "
          f"{opts.channels} channels, {opts.rate:g} publications/s")  # fmt: skip
    print(f"{'backend':<8} {'pubs':>6} {'delivered':>9} {'deliv/s':>9} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'x-p50':>7} {'x-p99':>7} {'redis us/pub':>12} {'jupyter us/pub':>14} "
          f"{'missing':>7}")
    for backend, r in results.items():
        print(f"{backend:<8} {r['publications']:>6} {r['deliveries']:>9} {r['per_s']:>9,.0f} "
              f"{r['p50']:>7.2f} {r['p99']:>7.2f} {r['cross_p50']:>7.2f} {r['cross_p99']:>7.2f} "
              f"{r['redis_us']:>12.1f} {r['server_us']:>14.1f} {r['missing']:>7}")  # fmt: skip


if __name__ == "__main__":
    main()
