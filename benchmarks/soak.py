"""Soak a live jupyter-realtime server: thousands of connections churning for minutes.

Run: ``python -m benchmarks.soak`` (2,000 connections for 10 minutes) or ``--quick``
(about a minute); ``--connections N``, ``--duration S``, ``--json PATH``.

It starts ``jupyter server`` with the extension on a free 127.0.0.1 port (with the file
limit raised), then keeps N WebSocket connections busy: each subscribes to one of the
channels, stays a random while, and drops (half close cleanly, half abort the TCP
connection), then connects again. A few connections stay for the whole run (the
survivors) and publishers post steadily to every channel. Measured from outside: the
server's RSS and open file descriptors (``/proc``) and its subscriber counts
(``GET realtime/api/channels``).

It prints, and exits non-zero unless: RSS grew less than 5% from the end of the warm-up
to the end, every subscription is gone once every client has closed (no leaked session),
the descriptors came back, every survivor got every publication of its channel in order,
and no churning connection saw a gap or a duplicate while it was subscribed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.hubserver import TOKEN, hub_server, report, server_errors
from benchmarks.procstat import raise_nofile, rss_bytes

HEADERS = {"Authorization": f"token {TOKEN}"}
CHANNELS = [f"soak:{i}" for i in range(20)]
SURVIVORS = 100
PUBLISH_RATE = 2.0  # publications a second per channel


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


class Stats:
    def __init__(self) -> None:
        self.connects = 0
        self.drops = 0
        self.connect_failures = 0
        self.deliveries = 0
        self.session_faults: list[str] = []  # gaps or duplicates inside one subscription
        self.published = 0
        self.publish_failures = 0


async def subscribe(ws: ClientConnection, channel: str) -> int:
    await ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": channel}).decode())
    while True:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame.get("id") == 1:
            return int(frame["result"]["offset"])


async def follow(ws: ClientConnection, channel: str, last: int, stats: Stats,
                 until: float, seen: list[int] | None = None) -> int:  # fmt: skip
    """Read publications until ``until``; check each follows the previous one."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return last
        try:
            msg = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            return last
        frame = orjson.loads(msg)
        if frame.get("channel") != channel or "offset" not in frame:
            continue
        stats.deliveries += 1
        if frame["offset"] != last + 1 and len(stats.session_faults) < 20:
            stats.session_faults.append(f"{channel}: {frame['offset']} after {last}")
        last = frame["offset"]
        if seen is not None:
            seen.append(last)


async def churner(url: str, rng: random.Random, stats: Stats, stop: float, life: float) -> None:
    while time.monotonic() < stop:
        channel = rng.choice(CHANNELS)
        try:
            ws = await connect(url, additional_headers=HEADERS, open_timeout=30)
        except Exception:
            stats.connect_failures += 1
            await asyncio.sleep(1)
            continue
        stats.connects += 1
        try:
            last = await subscribe(ws, channel)
            until = min(stop, time.monotonic() + rng.uniform(0.2, 2) * life)
            await follow(ws, channel, last, stats, until)
        except Exception as exc:
            if len(stats.session_faults) < 20:
                stats.session_faults.append(f"{channel}: {exc!r}")
        finally:
            stats.drops += 1
            if rng.random() < 0.5:
                await ws.close()
            else:
                ws.transport.abort()  # the network drops: no close handshake


async def survivor(url: str, channel: str, stats: Stats, stop: float) -> tuple[str, int, list[int]]:
    async with connect(url, additional_headers=HEADERS, open_timeout=60) as ws:
        first = await subscribe(ws, channel)
        seen: list[int] = []
        await follow(ws, channel, first, stats, stop + 3, seen)
    return channel, first, seen


async def publisher(url: str, channel: str, stats: Stats, stop: float) -> None:
    async with connect(url, additional_headers=HEADERS) as ws:
        n = 0
        while time.monotonic() < stop:
            await ws.send(orjson.dumps({"id": n, "op": "publish", "channel": channel,
                                        "data": {"n": n, "pad": "x" * 200}}).decode())  # fmt: skip
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
            stats.published += 1
            stats.publish_failures += "result" not in reply
            n += 1
            await asyncio.sleep(1 / PUBLISH_RATE)


async def subscribers_on_server(http: httpx.AsyncClient, base: str) -> tuple[int, dict[str, int]]:
    listed = (await http.get(f"{base}realtime/api/channels")).json()["channels"]
    soak = [c for c in listed if c["channel"] in CHANNELS]
    return sum(c["subscribers"] for c in soak), {c["channel"]: c["offset"] for c in soak}


async def soak(pid: int, port: int, connections: int, duration: float, warmup: float) -> dict:
    base, url = f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/realtime/ws"
    stats, fds_before = Stats(), open_fds(pid)
    start = time.monotonic()
    stop = start + duration
    life = min(20.0, duration / 10)  # mean seconds a churning connection lives
    survivors = [asyncio.ensure_future(survivor(url, CHANNELS[i % len(CHANNELS)], stats, stop))
                 for i in range(SURVIVORS)]  # fmt: skip
    await asyncio.sleep(2)  # survivors subscribed before anything is published
    tasks = [asyncio.ensure_future(publisher(url, ch, stats, stop)) for ch in CHANNELS]
    for i in range(connections - SURVIVORS):
        tasks.append(asyncio.ensure_future(churner(url, random.Random(i), stats, stop, life)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # ramp up
    samples: list[dict[str, Any]] = []
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as http:
        while time.monotonic() < stop:
            await asyncio.sleep(min(5.0, max(stop - time.monotonic(), 0.1)))
            subs, _ = await subscribers_on_server(http, base)
            samples.append({"t": round(time.monotonic() - start, 1), "rss_mib": round(
                rss_bytes(pid) / 2**20, 1), "fds": open_fds(pid), "subscribers": subs,
                "connects": stats.connects})  # fmt: skip
        await asyncio.gather(*tasks)
        results = await asyncio.gather(*survivors)
        _, final = await subscribers_on_server(http, base)
        incomplete = [f"{ch}: {len(seen)} from {first + 1} to {final.get(ch)}"
                      for ch, first, seen in results
                      if seen != list(range(first + 1, final.get(ch, 0) + 1))]  # fmt: skip
        leaked, deadline = -1, time.monotonic() + 20
        while time.monotonic() < deadline:  # aborted sockets are noticed by the pings
            leaked, _ = await subscribers_on_server(http, base)
            if leaked == 0:
                break
            await asyncio.sleep(1)
    after = [s for s in samples if s["t"] >= warmup] or samples
    base_rss = sum(s["rss_mib"] for s in after[:3]) / len(after[:3])
    end_rss = sum(s["rss_mib"] for s in after[-3:]) / len(after[-3:])
    return {
        "connections": connections,
        "duration_s": round(duration),
        "connects": stats.connects,
        "drops": stats.drops,
        "connect_failures": stats.connect_failures,
        "published": stats.published,
        "publish_failures": stats.publish_failures,
        "deliveries": stats.deliveries,
        "rss_after_warmup_mib": round(base_rss, 1),
        "rss_end_mib": round(end_rss, 1),
        "rss_growth_pct": round(100 * (end_rss - base_rss) / base_rss, 2),
        "fds_before": fds_before,
        "fds_after_close": open_fds(pid),
        "subscriptions_left_after_close": leaked,
        "survivors_incomplete": incomplete,
        "session_faults": stats.session_faults,
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of churn")
    parser.add_argument("--quick", action="store_true", help="about a minute")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    duration = 60.0 if args.quick else args.duration
    warmup = min(120.0, duration / 3)
    raise_nofile()
    # a short history fills during the warm-up, so later growth is not history
    options = [
        "--RealtimeApp.max_connections_per_user=0",
        "--RealtimeApp.heartbeat_interval=5",
        "--RealtimeApp.history_size=50",
    ]
    with tempfile.TemporaryDirectory(prefix="realtime-soak-") as tmp:
        with hub_server(Path(tmp), options) as server:
            result = asyncio.run(soak(server.pid, server.port, args.connections, duration, warmup))
            errors = server_errors(server)
    result["server_log_errors"] = errors[:10]
    result["ok"] = (
        result["rss_growth_pct"] < 5
        and result["subscriptions_left_after_close"] == 0
        and not result["survivors_incomplete"]
        and not result["session_faults"]
        and not result["publish_failures"]
        and not errors
        and result["fds_after_close"] <= result["fds_before"] + 5
    )
    report(result, args.json)


if __name__ == "__main__":
    main()
