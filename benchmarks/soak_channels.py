"""Soak a live server with channel churn: memory must follow what is live, not what was named.

Run: ``python -m benchmarks.soak_channels`` (100,000 distinct channels over 10 minutes) or
``--quick`` (10,000 over a minute); ``--channels N``, ``--duration S``, ``--json PATH``.

It starts ``jupyter server`` with the extension on a free 127.0.0.1 port and short TTLs
(``history_ttl`` 5 s, ``channel_meta_ttl`` 30 s), then opens channels at a steady rate
over a few WebSocket connections: each new channel gets a few publications; one in ten is
also subscribed to and left again, and one in ten has the history of a name nobody uses
read (reads must create nothing). Measured from outside: the server's RSS (``/proc``) and
the number of channels it lists (``GET realtime/api/channels``), every 10 s, and once
more after the churn stops and the TTLs have passed.

It prints a table and JSON, and exits non-zero unless RSS grew less than 10% from the end
of the warm-up (the first fifth) to the end, and the channel count came back to near zero
(at most 1% of the channels opened).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.hubserver import TOKEN, hub_server, report, server_errors
from benchmarks.procstat import rss_bytes

HEADERS = {"Authorization": f"token {TOKEN}"}
HISTORY_TTL = 5.0
META_TTL = 30.0
PUBLICATIONS = 3  # per channel
WORKERS = 8  # WebSocket connections opening channels
SAMPLE_EVERY = 10.0


class Worker:
    """One connection that runs commands one after another."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        cid = next(self.ids)
        await self.ws.send(orjson.dumps({"id": cid, "op": op, **fields}).decode())
        while True:
            frame = orjson.loads(await self.ws.recv())
            if frame.get("id") == cid:
                if "error" in frame:
                    raise RuntimeError(f"{op} failed: {frame['error']}")
                return frame["result"]  # type: ignore[no-any-return]


async def churn(worker: Worker, names: Any, rate: float, start: float, stats: dict[str, int]):  # type: ignore[no-untyped-def]
    pad = "x" * 200
    for n in names:
        due = start + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        channel = f"churn:{n}"
        if n % 10 == 0:
            await worker.call("subscribe", channel=channel)
        for i in range(PUBLICATIONS):
            await worker.call("publish", channel=channel, data={"n": n, "i": i, "pad": pad})
        if n % 10 == 0:
            await worker.call("unsubscribe", channel=channel)
        if n % 10 == 5:
            await worker.call("history", channel=f"ghost:{n}", limit=10)
        stats["opened"] += 1


async def sample(http: httpx.AsyncClient, url: str, pid: int, start: float) -> dict[str, Any]:
    channels = len((await http.get(url)).json()["channels"])
    return {
        "t": round(time.monotonic() - start),
        "rss_mib": round(rss_bytes(pid) / 2**20, 1),
        "channels": channels,
    }


async def soak(url: str, ws_url: str, pid: int, total: int, duration: float) -> dict[str, Any]:
    stats = {"opened": 0}
    samples: list[dict[str, Any]] = []
    rate = total / duration
    sockets = [await connect(ws_url, additional_headers=HEADERS) for _ in range(WORKERS)]
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as http:
        start = time.monotonic()
        tasks = [
            asyncio.ensure_future(churn(Worker(ws), range(w, total, WORKERS), rate, start, stats))
            for w, ws in enumerate(sockets)
        ]
        done = asyncio.gather(*tasks)
        while not done.done():
            await asyncio.wait([done], timeout=SAMPLE_EVERY)
            samples.append({**await sample(http, url, pid, start), "opened": stats["opened"]})
            print(samples[-1], flush=True)
        await done
        churned = time.monotonic() - start
        for ws in sockets:
            await ws.close()
        # the history expires, the channels are let go, their positions forgotten
        await asyncio.sleep(HISTORY_TTL + META_TTL + 15)
        final = {**await sample(http, url, pid, start), "opened": stats["opened"]}
        samples.append(final)
        print(final, flush=True)
    warm = samples[: max(1, len(samples) // 5)]
    base = warm[-1]["rss_mib"]
    end = final["rss_mib"]
    peak_channels = max(s["channels"] for s in samples)
    return {
        "channels_opened": stats["opened"],
        "churn_seconds": round(churned, 1),
        "channels_per_second": round(stats["opened"] / churned, 1),
        "rss_after_warmup_mib": base,
        "rss_peak_mib": max(s["rss_mib"] for s in samples),
        "rss_end_mib": end,
        "rss_growth_pct": round(100 * (end - base) / base, 2),
        "channels_listed_peak": peak_channels,
        "channels_listed_end": final["channels"],
        "samples": samples,
        "ok": end < base * 1.10 and final["channels"] <= stats["opened"] // 100,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| t (s) | channels opened | channels listed | RSS (MiB) |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for s in result["samples"]:
        lines.append(f"| {s['t']} | {s['opened']:,} | {s['channels']:,} | {s['rss_mib']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--quick", action="store_true", help="10,000 channels over a minute")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.channels, args.duration = 10_000, 60.0
    options = [
        f"--RealtimeApp.history_ttl={HISTORY_TTL}",
        f"--RealtimeApp.channel_meta_ttl={META_TTL}",
        "--RealtimeApp.history_size=100",
    ]
    with tempfile.TemporaryDirectory() as tmp, hub_server(Path(tmp), options) as server:
        base = f"http://127.0.0.1:{server.port}"
        result = asyncio.run(
            soak(
                f"{base}/realtime/api/channels",
                f"ws://127.0.0.1:{server.port}/realtime/ws",
                server.pid,
                args.channels,
                args.duration,
            )
        )
        result["server_errors"] = server_errors(server)
        result["ok"] = result["ok"] and not result["server_errors"]
    print(table(result))
    report(result, args.json)


if __name__ == "__main__":
    main()
