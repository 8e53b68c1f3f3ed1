"""What the default retention keeps of a long mirrored run, and what that costs.

``python benchmarks/retention.py [--hours 6] [--rate 8]``

No server: the brokers alone, in one process. It publishes, as fast as the broker takes
them, what ``--hours`` of a mirrored training cell sends at ``--rate`` publications per
second (the issue's figure: a cell printing a line per step with a progress bar fills
1,000 publications in about 2 minutes, ~8/s): every other publication a ``stream`` message
of the mirror with a few lines of ``step N loss ... acc ...``, the other a tqdm
``progress`` update (the formats of ``docs/kernel.md``), with timestamps spread as the run
would have them. Then, for the SQLite default and the in-memory broker at their default
rules, it prints

* the publications and hours of the run each still keeps, and whether a client that
  subscribed at the start would resume ``recovered: true``;
* the bytes counted per kept publication (payload, sender, bookkeeping) and, for SQLite,
  the file's bytes per kept publication (the database and its WAL);
* the memory the broker holds for it: the growth of the process's resident set from before
  the first publication to after the last (each broker in a process of its own; an upper
  bound, as the allocator keeps some of what the run freed);
* for SQLite, the time to read the file back at start.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from jupyter_realtime.broker_config import BrokerConfig
from jupyter_realtime.brokers.base import Broker
from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.brokers.sqlite import SQLiteBroker
from jupyter_realtime.protocol import Position

CELL = "8c1f0e9a4b2d4f6e9a1b3c5d7e9f0a1b"


def messages(count: int, rate: float, start: float) -> list[tuple[bytes, float]]:
    """``count`` publications of a mirrored training cell, ``rate`` per second."""
    out = []
    for i in range(count):
        step = i * 3
        if i % 2:
            message: dict[str, Any] = {
                "type": "progress", "bar": "b1f3", "desc": "train", "n": step,
                "total": 1_000_000, "unit": "it", "unit_scale": False, "rate": 24.31,
                "elapsed": round(i / rate, 6), "eta": 41012.5, "postfix": "loss=0.4312",
                "done": False, "time": start + i / rate, "cell": CELL,
            }  # fmt: skip
        else:
            text = "".join(
                f"step {step + k:7d} loss {0.5 / (1 + (step + k) / 1e4):.6f} acc 0.{9000 + k}\n"
                for k in range(3)
            )
            message = {"type": "stream", "cell": CELL, "name": "stdout", "text": text}
        out.append((orjson.dumps(message), start + i / rate))
    return out


def rss() -> int:
    """Resident bytes of this process now (Linux), after a collection."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def default_broker(kind: str, path: Path) -> Broker:
    """The broker as a server with no retention settings makes it."""
    config = BrokerConfig()
    config.serverapp = None
    config.broker_url = f"sqlite://{path}" if kind == "sqlite" else "memory://"
    return config.make_broker()


async def run(kind: str, pubs: list[tuple[bytes, float]], workdir: Path) -> dict[str, Any]:
    path = workdir / f"{kind}.sqlite3"
    broker = default_broker(kind, path)
    await broker.start()
    before = rss()
    first = None
    started = time.perf_counter()
    window: list[Any] = []
    for payload, ts in pubs:
        window.append(broker.publish("train:run", payload, binary=False, sender="ada", ts=ts))
        if len(window) == 256:
            done = await asyncio.gather(*window)
            first = first or done[0]
            window = []
    if window:
        done = await asyncio.gather(*window)
        first = first or done[0]
    seconds = time.perf_counter() - started
    assert first is not None
    kept = (await broker.history("train:run")).publications
    resumed = await broker.history("train:run", since=Position(first.epoch, 0), limit=1)
    held = rss() - before
    assert isinstance(broker, MemoryBroker)
    rule = broker.retention.rule("train:run")
    counted = broker.bytes
    await broker.close()
    files = sum(f.stat().st_size for f in workdir.glob(f"{kind}.sqlite3*"))
    load = 0.0
    if isinstance(broker, SQLiteBroker):
        load = time.perf_counter()
        reopened = SQLiteBroker(path=path)
        reopened.open()
        load = time.perf_counter() - load
        await reopened.store.close()
    span = kept[-1].ts - kept[0].ts if kept else 0.0
    return {
        "kind": kind,
        "rule": rule,
        "kept": len(kept),
        "hours": span / 3600,
        "recovered": resumed.recovered,
        "counted": counted / max(1, len(kept)),
        "disk": files / max(1, len(kept)) if isinstance(broker, SQLiteBroker) else 0.0,
        "file_mb": files / 1e6,
        "rss_mb": held / 1e6,
        "pub_s": len(pubs) / seconds,
        "load_s": load,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--rate", type=float, default=8.0, help="publications per second")
    parser.add_argument("--broker", choices=["sqlite", "memory"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.broker is None:  # each broker in a process of its own: memory is measured alone
        for kind in ("sqlite", "memory"):
            argv = ["--hours", str(args.hours), "--rate", str(args.rate), "--broker", kind]
            subprocess.run([sys.executable, __file__, *argv], check=True)
        return
    count = int(args.hours * 3600 * args.rate)
    start = time.time() - args.hours * 3600
    pubs = messages(count, args.rate, start)
    payload = sum(len(p) for p, _ in pubs) / count
    workdir = Path(tempfile.mkdtemp(prefix="realtime-retention-"))
    kind = args.broker
    print(
        f"{kind}: {args.hours:g} h of a mirrored cell at {args.rate:g} publications/s: {count:,} "
        f"publications, {payload:.0f} bytes of JSON each on average"
    )
    print("| broker | default rule | kept | hours kept | resume from the start | "
          "bytes counted / kept | file bytes / kept | file | memory held | publications/s | "
          "start-up read |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    r = await run(kind, pubs, workdir)
    rule = r["rule"]
    ruled = f"{(rule.bytes or 0) / 2**20:g} MiB, {(rule.age or 0) / 3600:g} h"
    disk = f"{r['disk']:.0f}" if r["disk"] else "-"
    file_mb = f"{r['file_mb']:.0f} MB" if r["disk"] else "-"
    load = f"{r['load_s']:.1f} s" if r["disk"] else "-"
    print(
        f"| {kind} | {ruled} | {r['kept']:,} | {r['hours']:.2f} | "
        f"recovered: {str(r['recovered']).lower()} | {r['counted']:.0f} | {disk} | "
        f"{file_mb} | {r['rss_mb']:.0f} MB | {r['pub_s']:,.0f} | {load} |"
    )
    shutil.rmtree(workdir)


if __name__ == "__main__":
    asyncio.run(main())
