"""Many connections on one server, WebSocket and SSE mixed, all receiving.

``python benchmarks/mixed.py [--connections 10000] [--publications 20]``: half the
subscribers on ``realtime/ws``, half on ``realtime/sse``, one channel; publications posted
at a steady rate; every subscriber must get every publication once and in order. Prints
connections held, server RSS per connection, server CPU per delivery, latency p50/p99 and
lost / duplicated / out-of-order counts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hubserver import TOKEN, hub_server  # noqa: E402
from benchmarks.load import _connect  # noqa: E402
from benchmarks.procstat import cpu_seconds, raise_nofile, rss_bytes  # noqa: E402
from benchmarks.publishers import make_publisher  # noqa: E402
from benchmarks.subscribers import Connection, make_subscriber  # noqa: E402
from benchmarks.tally import Recorder, Tally, body  # noqa: E402
from benchmarks.targets import Publish, Subscribe  # noqa: E402

HEADERS = {"Authorization": f"token {TOKEN}"}
WS = Subscribe("ws", "/realtime/ws", b'{"id":1,"op":"subscribe","channel":"bench"}')
SSE = Subscribe("sse", "/realtime/sse?channel=bench")
PUBLISH = Publish("http", "/realtime/api/channels/bench")


async def run(port: int, pid: int, n: int, k: int, rate: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    rec = Recorder()
    gate = asyncio.Semaphore(100)
    subs: list[Connection] = []

    async def one(spec: Subscribe) -> None:
        async with gate:
            proto = make_subscriber(spec, port, HEADERS, Tally(rec))
            subs.append(await _connect(loop, proto, port))

    rss0 = rss_bytes(pid)
    await asyncio.wait_for(asyncio.gather(*(one(WS if i % 2 else SSE) for i in range(n))), 600)
    pub = await _connect(loop, make_publisher(PUBLISH, port, HEADERS), port)
    deadline = time.monotonic() + 60
    while any(not s.tally.warm for s in subs) and time.monotonic() < deadline:
        await pub.send(body(0))
        await asyncio.sleep(0.5)
    rss1 = rss_bytes(pid)
    rec.start(base=1_000_000, k=k)
    for s in subs:
        s.tally.reset()
    cpu0 = cpu_seconds(pid)
    for i in range(1, k + 1):
        await asyncio.wait_for(pub.send(body(rec.base + i)), 60)
        await asyncio.sleep(1 / rate)
    expected = n * k
    deadline = time.monotonic() + 120
    while rec.delivered < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu1 = cpu_seconds(pid)
    for s in subs:
        s.close()
    pub.close()
    lat = sorted(rec.latencies) or [0.0]
    return {
        "connections": len(subs),
        "kib_per_connection": (rss1 - rss0) / 1024 / n,
        "server_us_per_delivery": (cpu1 - cpu0) / max(rec.delivered, 1) * 1e6,
        "p50_ms": lat[len(lat) // 2] * 1e3,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3,
        "delivered": rec.delivered,
        "expected": expected,
        "lost": expected - rec.delivered,
        "dup": rec.dup,
        "ooo": rec.ooo,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--publications", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5.0, help="publications per second")
    args = parser.parse_args()
    raise_nofile()
    with tempfile.TemporaryDirectory() as tmp, hub_server(Path(tmp)) as server:
        result = asyncio.run(
            run(server.port, server.pid, args.connections, args.publications, args.rate)
        )
    for key, value in result.items():
        print(f"{key:>24}: {value:,.2f}" if isinstance(value, float) else f"{key:>24}: {value:,}")


if __name__ == "__main__":
    main()
