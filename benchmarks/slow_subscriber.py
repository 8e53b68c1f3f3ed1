"""Does a slow subscriber cost only itself? The same burst with and without one.

``python benchmarks/slow_subscriber.py [--subscribers 1000] [--publications 200]``: one
server, WebSocket subscribers of one channel, a burst of publications as fast as they are
acknowledged. Run A: every subscriber reads. Run B (same server, same run): one more
subscriber that has stopped reading (its socket receive window fills, then the server's
outbox, then it is cut off as ``slow_consumer``). Prints the others' deliveries/s and
latency p50/p99 for both runs and their ratio; the target is within 20%.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hubserver import TOKEN, hub_server  # noqa: E402
from benchmarks.load import _connect  # noqa: E402
from benchmarks.procstat import raise_nofile  # noqa: E402
from benchmarks.publishers import make_publisher  # noqa: E402
from benchmarks.subscribers import Connection, make_subscriber  # noqa: E402
from benchmarks.tally import Recorder, Tally, body  # noqa: E402
from benchmarks.targets import Publish, Subscribe  # noqa: E402

HEADERS = {"Authorization": f"token {TOKEN}"}
PUBLISH = Publish("http", "/realtime/api/channels/burst")
PAD = "x" * 16000  # large publications fill a stalled reader's buffers quickly


async def burst(port: int, n: int, k: int, slow: bool, base: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    rec = Recorder()
    spec = Subscribe("ws", "/realtime/ws", b'{"id":1,"op":"subscribe","channel":"burst"}')
    gate = asyncio.Semaphore(100)
    subs: list[Connection] = []

    async def one() -> None:
        async with gate:
            proto = make_subscriber(spec, port, HEADERS, Tally(rec))
            subs.append(await _connect(loop, proto, port))

    await asyncio.gather(*(one() for _ in range(n)))
    stalled: Connection | None = None
    if slow:
        proto = make_subscriber(spec, port, HEADERS, Tally(Recorder()))
        stalled = await _connect(loop, proto, port)
        sock = stalled.transport.get_extra_info("socket") if stalled.transport else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    pub = await _connect(loop, make_publisher(PUBLISH, port, HEADERS), port)
    while any(not s.tally.warm for s in subs):
        await pub.send(body(0))
        await asyncio.sleep(0.2)
    if stalled is not None and stalled.transport is not None:
        stalled.transport.pause_reading()  # from now on it reads nothing
    rec.start(base=base, k=k)
    for s in subs:
        s.tally.reset()
    start = time.time()
    window: list[asyncio.Future[int]] = []
    for i in range(1, k + 1):
        window.append(pub.send(body(base + i)[:-1] + b',"big":"' + PAD.encode() + b'"}'))
        if len(window) >= 2:
            await asyncio.wait_for(window[-2], 30)
    await asyncio.gather(*window)
    deadline = time.monotonic() + 120
    while rec.delivered < n * k and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    wall = max(rec.last - start, 1e-9)
    # the server's view: a stalled subscriber that was cut off is no longer counted
    async with httpx.AsyncClient(headers=HEADERS) as http:
        listed = (await http.get(f"http://127.0.0.1:{port}/realtime/api/channels")).json()
    held = next(c["subscribers"] for c in listed["channels"] if c["channel"] == "burst")
    for s in subs:
        s.close()
    if stalled is not None:
        stalled.close()
    pub.close()
    lat = sorted(rec.latencies) or [0.0]
    return {
        "deliveries_per_s": rec.delivered / wall,
        "p50_ms": lat[len(lat) // 2] * 1e3,
        "p99_ms": lat[max(int(len(lat) * 0.99) - 1, 0)] * 1e3,
        "lost": n * k - rec.delivered,
        "dup": rec.dup,
        "ooo": rec.ooo,
        "slow_dropped": float(stalled is not None and held == n),
    }


async def compare(port: int, n: int, k: int, reps: int) -> None:
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    base = 1_000_000
    for _ in range(reps):
        for slow in (False, True):  # interleaved: A B A B ...
            base += 10 * k
            runs[slow].append(await burst(port, n, k, slow, base))
            await asyncio.sleep(1)
    print(f"| run ({n} readers, {k} publications of ~16 KiB, median of {reps}) "
          "| deliveries/s | p50 ms | p99 ms | lost/dup/ooo | slow one cut off |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for slow, results in runs.items():
        med = {key: sorted(r[key] for r in results)[len(results) // 2] for key in results[0]}
        medians[slow] = med
        name = "with a stalled subscriber" if slow else "all subscribers read"
        print(f"| {name} | {med['deliveries_per_s']:,.0f} | {med['p50_ms']:.1f} | "
              f"{med['p99_ms']:.1f} | {med['lost']:.0f}/{med['dup']:.0f}/{med['ooo']:.0f} | "
              f"{'yes' if med['slow_dropped'] else 'no' if slow else '-'} |")
    a, b = medians[False], medians[True]
    print(f"\nwith / without: deliveries/s {b['deliveries_per_s'] / a['deliveries_per_s']:.2f}×, "
          f"p99 {b['p99_ms'] / max(a['p99_ms'], 1e-9):.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--publications", type=int, default=400)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    raise_nofile()
    with tempfile.TemporaryDirectory() as tmp, hub_server(
        Path(tmp), ["--RealtimeApp.outbox_limit=262144"]
    ) as server:
        asyncio.run(compare(server.port, args.subscribers, args.publications, args.reps))


if __name__ == "__main__":
    main()
