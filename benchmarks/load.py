"""The load client: N subscribers, K publications, and what the servers did with them.

One scenario against one running server: open the subscribers (bounded concurrency and
time), wait until every one has received a warm-up publication, then publish ``k``
numbered publications, either as fast as the server acknowledges them (``rate == 0``,
``window`` in flight) or at a fixed rate, and wait until all deliveries arrived or none
arrived for ``settle`` seconds. The server's CPU and RSS come from /proc, the client's CPU
from ``time.process_time``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, TypeVar

from benchmarks.procstat import cpu_seconds, rss_bytes
from benchmarks.publishers import PublishConnection, make_publisher
from benchmarks.subscribers import Connection, make_subscriber
from benchmarks.tally import Recorder, Tally, body
from benchmarks.targets import Target


@dataclass(frozen=True)
class Scenario:
    name: str  # "fanout" or "latency"
    subscribers: int
    publications: int
    rate: float = 0.0  # publications per second; 0 = as fast as acknowledged
    window: int = 2  # publications in flight when rate == 0: the next one waits in the server
    publishers: int = 1  # publish connections; publication i goes to connection i % publishers
    connect_concurrency: int = 100
    settle: float = 3.0  # give up waiting after this long without a delivery
    max_seconds: float = 300.0  # the longest the wait for deliveries may take


P = TypeVar("P", bound=Connection)


async def _connect(loop: asyncio.AbstractEventLoop, proto: P, port: int) -> P:
    await loop.create_connection(lambda: proto, "127.0.0.1", port)
    await asyncio.wait_for(proto.ready, 15)
    return proto


async def open_subscribers(
    target: Target, port: int, n: int, rec: Recorder, concurrency: int
) -> tuple[list[Connection], list[str]]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    protos: list[Connection] = []
    errors: list[str] = []

    async def one() -> None:
        async with gate:
            proto = make_subscriber(target.subscribe, port, target.headers, Tally(rec))
            try:
                protos.append(await _connect(loop, proto, port))
            except (OSError, asyncio.TimeoutError) as exc:
                proto.close()
                errors.append(repr(exc))

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), 30 + n / 50)
    return protos, errors


async def warm_up(pub: PublishConnection, subs: list[Connection], timeout: float) -> int:
    """Publish ``seq`` 0 until every subscriber has one; returns how many never got it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.wait_for(pub.send(body(0)), 10)
        for _ in range(20):
            await asyncio.sleep(0.02)
            missing = sum(1 for s in subs if not s.tally.warm)
            if not missing:
                return 0
    return sum(1 for s in subs if not s.tally.warm)


async def _publish(pubs: list[PublishConnection], sc: Scenario, base: int) -> int:
    """Send the phase's publications; returns how many were not answered with 2xx.

    With several publishers, publication ``i`` goes to ``pubs[(i - 1) % len(pubs)]``."""
    futures: list[asyncio.Future[int]] = []
    start = time.monotonic()
    for i in range(1, sc.publications + 1):
        if sc.rate:
            delay = start + (i - 1) / sc.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        futures.append(pubs[(i - 1) % len(pubs)].send(body(base + i)))
        if not sc.rate and len(futures) >= sc.window:
            await asyncio.wait_for(futures[-sc.window], 30)
    done = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30)
    return sum(1 for s in done if not (isinstance(s, int) and 200 <= s < 300))


async def _wait_deliveries(rec: Recorder, expected: int, sc: Scenario, began: float) -> bool:
    """Wait for ``expected`` deliveries; False if it gave up (no progress, or too long)."""
    last_count, last_change = -1, time.monotonic()
    while rec.delivered < expected:
        if time.monotonic() - began > sc.max_seconds:
            return False
        if rec.delivered != last_count:
            last_count, last_change = rec.delivered, time.monotonic()
        elif time.monotonic() - last_change > sc.settle:
            return False
        await asyncio.sleep(0.01)
    return True


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def quiesce(pid: int, timeout: float = 5.0) -> float:
    """Wait until the server stops using CPU (e.g. closing the last scenario's connections).

    Returns how long that took."""
    start = time.monotonic()
    last = cpu_seconds(pid)
    while time.monotonic() - start < timeout:
        await asyncio.sleep(0.1)
        now = cpu_seconds(pid)
        if now == last:
            break
        last = now
    return time.monotonic() - start


async def run_scenario(target: Target, port: int, pid: int, sc: Scenario) -> dict[str, Any]:
    """Run ``sc`` against the server on ``port`` (process ``pid``); returns flat metrics."""
    loop = asyncio.get_running_loop()
    began = time.monotonic()
    rec = Recorder()
    pub = await _connect(loop, make_publisher(target.publish, port, target.headers), port)
    await asyncio.wait_for(pub.send(body(0)), 10)  # warm the publish path before RSS0
    pub.close()
    quiet_s0 = await quiesce(pid)
    rss0 = rss_bytes(pid)
    t0 = time.monotonic()
    subs, errors = await open_subscribers(target, port, sc.subscribers, rec, sc.connect_concurrency)
    connect_s = time.monotonic() - t0
    # a new connection: servers close idle keep-alive ones while thousands connect
    pubs = [
        await _connect(loop, make_publisher(target.publish, port, target.headers), port)
        for _ in range(sc.publishers)
    ]
    pub = pubs[0]
    try:
        not_ready = await warm_up(pub, subs, 10 + len(subs) / 500) if subs else 0
        quiet_s1 = await quiesce(pid)
        rss1 = rss_bytes(pid)
        rec.start(base=1_000_000, k=sc.publications, streams=sc.publishers)
        for s in subs:
            s.tally.reset()
        cpu0, client0, wall0 = cpu_seconds(pid), time.process_time(), time.time()
        publish_errors = await _publish(pubs, sc, rec.base)
        expected = len(subs) * sc.publications
        complete = await _wait_deliveries(rec, expected, sc, time.monotonic())
        cpu1, client1 = cpu_seconds(pid), time.process_time()
        dropped = sum(1 for s in subs if s.dropped)
    finally:
        for s in subs:
            s.close()
        for p in pubs:
            p.close()
    wall = max((rec.last or time.time()) - wall0, 1e-9)
    quiet_s = quiet_s0 + quiet_s1
    delivered = max(rec.delivered, 1)
    lat = sorted(rec.latencies)
    return {
        "subscribers": sc.subscribers,
        "connected": len(subs),
        "connect_errors": len(errors),
        "first_connect_error": errors[0] if errors else "",
        "not_ready": not_ready,
        "connect_s": connect_s,
        "mem_kib_per_conn": (rss1 - rss0) / 1024 / max(len(subs), 1),
        "publications": sc.publications,
        "publish_errors": publish_errors,
        "delivered": rec.delivered,
        "deliveries_per_s": rec.delivered / wall,
        "server_us_per_delivery": (cpu1 - cpu0) / delivered * 1e6,
        "client_us_per_delivery": (client1 - client0) / delivered * 1e6,
        "client_cpu_pct": (client1 - client0) / wall * 100,
        "p50_ms": _percentile(lat, 0.50) * 1e3,
        "p99_ms": _percentile(lat, 0.99) * 1e3,
        "lost": expected - rec.delivered,
        "complete": complete,  # False: stopped waiting (see settle, max_seconds)
        "dropped": dropped,  # subscribers the server disconnected
        "quiesce_s": quiet_s,
        "scenario_s": time.monotonic() - began,
        "dup": rec.dup,
        "ooo": rec.ooo,
    }
