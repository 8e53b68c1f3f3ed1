"""What keeping channels in SQLite costs, broker against broker, in one process.

``python benchmarks/storage.py [--channels 100] [--history 1000] [--payload 100]``

No server and no sockets: the brokers alone, so the figures are the storage's own. For the
in-memory broker and the SQLite broker in the same run it prints

* **publish throughput**: publications acknowledged per second with ``--window``
  publications in flight, spread over ``--channels`` channels (each acknowledged only once
  committed, for SQLite), and the process CPU (event loop and writer thread) per
  publication;
* **disk bytes per kept publication**: the file's size once every channel has kept
  ``--history`` publications (after twice as many were published, so trimming is in its
  steady state), divided by the publications kept;
* **start-up**: the time to read that file back.

The whole-server view (fan-out to 1,000 subscribers, latency at 50 publications/s) is
``run.py --targets jupyter_realtime_ws_memory,jupyter_realtime_ws``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from jupyter_realtime.brokers.base import Broker
from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.brokers.sqlite import SQLiteBroker


async def publish_all(
    broker: Broker, channels: int, count: int, payload: bytes, window: int
) -> float:
    """Publish ``count`` publications round-robin over ``channels``, ``window`` in flight;
    the seconds it took."""
    sem = asyncio.Semaphore(window)

    async def one(i: int) -> None:
        async with sem:
            await broker.publish(
                f"bench-{i % channels}", payload, binary=False, sender="bench", ts=time.time()
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - start


async def measure(broker: Broker, args: argparse.Namespace) -> dict[str, float]:
    payload = b'{"x":"' + b"a" * max(0, args.payload - 8) + b'"}'
    await broker.start()
    count = 2 * args.channels * args.history
    cpu = time.process_time()
    seconds = await publish_all(broker, args.channels, count, payload, args.window)
    cpu = time.process_time() - cpu
    await broker.close()
    return {"pub/s": count / seconds, "cpu_us": cpu / count * 1e6}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--history", type=int, default=1000, help="history_size")
    parser.add_argument("--payload", type=int, default=100, help="bytes of JSON per publication")
    parser.add_argument("--window", type=int, default=64, help="publications in flight")
    parser.add_argument("--synchronous", default="normal", choices=["normal", "full"])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="realtime-storage-"))
    path = workdir / "channels.sqlite3"
    options = {"history_size": args.history, "history_ttl": 0}
    results = {
        "memory": await measure(MemoryBroker(**options), args),
        "sqlite": await measure(
            SQLiteBroker(path=path, synchronous=args.synchronous, **options), args
        ),
    }
    size = sum(f.stat().st_size for f in workdir.iterdir())
    kept = args.channels * args.history
    start = time.perf_counter()
    reopened = SQLiteBroker(path=path, **options)
    reopened.open()
    load = time.perf_counter() - start
    await reopened.store.close()
    print(
        f"{args.channels} channels x {args.history} kept, {args.payload}-byte payloads, "
        f"{args.window} in flight, synchronous={args.synchronous}"
    )
    print("| broker | publications/s | CPU µs per publication |")
    print("| --- | --- | --- |")
    for name, result in results.items():
        print(f"| {name} | {result['pub/s']:,.0f} | {result['cpu_us']:.1f} |")
    ratio = results["sqlite"]["pub/s"] / results["memory"]["pub/s"]
    print(f"sqlite / memory throughput: {ratio:.2f}x")
    print(f"file: {size / 1e6:.1f} MB, {size / kept:.0f} bytes per kept publication")
    print(f"start-up read of the file: {load * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
