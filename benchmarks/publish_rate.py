"""Publications per second from one publisher, and the server CPU each costs.

``python benchmarks/publish_rate.py [--count N]``: against one Jupyter server with the
extension, four publishers side by side in one run:

* REST: sequential ``POST realtime/api/channels/C`` on one keep-alive connection;
* the Python client's ``publish`` (one round trip each);
* the Python client's ``publish_nowait`` + ``flush`` (pipelined, what a kernel loop uses);
* a bare ``websockets`` client pipelining publish commands (the reference: the least a
  client can do on this server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import orjson  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402

from benchmarks.hubserver import TOKEN, hub_server  # noqa: E402
from jupyter_realtime.client import connect  # noqa: E402

HEADERS = {"Authorization": f"token {TOKEN}"}


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int, count: int, run: Callable[[int], None]) -> tuple[float, float]:
    """(publications/s, server µs per publication)."""
    cpu, start = server_cpu(pid), time.perf_counter()
    run(count)
    elapsed = time.perf_counter() - start
    return count / elapsed, (server_cpu(pid) - cpu) / count * 1e6


def rest(base: str, count: int) -> None:
    with httpx.Client(headers=HEADERS) as http:
        for i in range(count):
            http.post(f"{base}realtime/api/channels/rest", json={"i": i}).raise_for_status()


def bare_websocket(base: str, count: int) -> None:
    async def go() -> None:
        url = base.replace("http", "ws", 1) + "realtime/ws"
        async with ws_connect(url, additional_headers=HEADERS) as ws:
            for i in range(count):
                frame = {"id": i, "op": "publish", "channel": "bare", "data": {"i": i}}
                await ws.send(orjson.dumps(frame).decode())
            for _ in range(count):
                await ws.recv()

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, hub_server(Path(tmp)) as server:
        base = f"http://127.0.0.1:{server.port}/"
        client = connect(url=base, token=TOKEN)
        channel = client.channel("client")
        channel.publish({"warm": True})

        def one_by_one(n: int) -> None:
            for i in range(n):
                channel.publish({"i": i})

        def pipelined(n: int) -> None:
            for i in range(n):
                channel.publish_nowait({"i": i})
            channel.flush()

        pid, few, many = server.pid, args.count // 10, args.count
        rows = [
            ("REST POST, sequential", measure(pid, few, lambda n: rest(base, n))),
            ("client publish()", measure(pid, few, one_by_one)),
            ("client publish_nowait()", measure(pid, many, pipelined)),
            ("bare websockets, pipelined", measure(pid, many, lambda n: bare_websocket(base, n))),
        ]
        client.close()
    print("| publisher | publications/s | server µs each |\n|---|---|---|")
    for name, (rate, cpu) in rows:
        print(f"| {name} | {rate:,.0f} | {cpu:,.0f} |")


if __name__ == "__main__":
    main()
