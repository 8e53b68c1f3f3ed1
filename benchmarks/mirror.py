"""What does ``%%realtime mirror`` cost a cell? The same cells with mirroring off and on.

``python benchmarks/mirror.py [--lines 100000] [--images 200] [--rounds 3]``: one server
(a subprocess), one IPython kernel that knows the server as a kernel started by it would
(``JUPYTER_REALTIME_URL``/``TOKEN``), and a client that reads every output message of the
kernel as a notebook frontend does. Two cells: one prints ``--lines`` lines, one displays
``--images`` PNG images (about 20 KB each, incompressible). Each runs ``--rounds`` times with
mirroring off and on, alternately, in the same run. Prints, per cell, the median wall time
from the execute request to its reply (what a user waits), with mirroring off and on and their
ratio (target: at most 1.2x; also the ratio of the fastest runs and the kernel's CPU time,
less sensitive to a busy machine), and for the mirrored runs the publications and bytes of JSON
sent per second of output, read back from the channel's history. Last, the delay from a
``print`` in a mirrored cell to a subscriber of the channel (p50, p99): lines 50 ms apart,
each carrying the time it was printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hubserver import TOKEN, hub_server  # noqa: E402

SETUP = """
%load_ext jupyter_realtime
import os, zlib
from IPython.display import Image, display

def _chunk(kind, body):
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

def noise_png(side=80):
    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    rows = b"".join(b"\\0" + os.urandom(side * 3) for _ in range(side))
    return (b"\\x89PNG\\r\\n\\x1a\\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))

IMAGES = [noise_png() for _ in range(16)]
"""

CELLS = {
    "print": "for i in range({lines}):\n    print(f'epoch {{i}} loss {{1 / (i + 1):.6f}}')",
    "images": "for i in range({images}):\n    display(Image(data=IMAGES[i % len(IMAGES)]))",
}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def execute(kernel: Any, code: str) -> tuple[float, int]:
    """Run a cell; its wall time (request to reply, all output read) and bytes of output."""
    received = [0]

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("stream", "display_data", "execute_result", "error"):
            received[0] += len(orjson.dumps(msg["content"]))
        if msg["msg_type"] == "error":
            print("\n".join(msg["content"]["traceback"]), file=sys.stderr)

    started = time.perf_counter()
    reply = kernel.execute_interactive(code, output_hook=hook, timeout=600)
    elapsed = time.perf_counter() - started
    assert reply["content"]["status"] == "ok", reply["content"]
    return elapsed, received[0]


def mirrored_traffic(url: str, channel: str) -> tuple[int, int, float, int, int]:
    """Of the newest mirrored cell: publications, bytes of JSON data, seconds of output,
    displays mirrored, and displays or lines left out (as the markers count them)."""
    from jupyter_realtime.client import connect

    with connect(url, TOKEN) as client:
        history = client.channel(channel).history(limit=1000)
    starts = [i for i, m in enumerate(history) if m.data.get("type") == "cell_start"]
    messages = history[starts[-1] :]
    size = sum(len(orjson.dumps(m.data)) for m in messages)
    duration = messages[-1].data.get("duration") or 1e-9
    displays = sum(m.data["type"] == "display_data" for m in messages)
    cut = sum(m.data.get("skipped", {}).get("lines", 0) for m in messages)
    for m in messages:
        text = m.data.get("text", "")
        if text.startswith("[") and "outputs not mirrored" in text:
            cut += int(text[1:].split()[0])
    return len(messages), size, float(duration), displays, cut


LATENCY_CELL = """%%realtime mirror bench:latency
import time
for i in range({n}):
    print(f"sent {{time.time():.6f}}")
    time.sleep({pause})
"""


def latency(kernel: Any, url: str, n: int, pause: float) -> list[float]:
    """Seconds from each ``print`` in the kernel to its line reaching a subscriber."""
    import threading

    from jupyter_realtime.client import connect

    delays: list[float] = []
    with connect(url, TOKEN) as client:
        sub = client.channel("bench:latency").subscribe()

        def read() -> None:
            for msg in sub:
                now = time.time()
                if msg.data.get("type") == "stream":
                    for line in msg.data["text"].splitlines():
                        if line.startswith("sent "):
                            delays.append(now - float(line.split()[1]))
                if msg.data.get("type") == "cell_end" or len(delays) >= n:
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        execute(kernel, LATENCY_CELL.format(n=n, pause=pause))
        reader.join(30)
        sub.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-lines", type=int, default=200, help="lines, 50 ms apart")
    args = parser.parse_args()
    from jupyter_client.manager import start_new_kernel

    with tempfile.TemporaryDirectory() as tmp, hub_server(Path(tmp)) as server:
        url = f"http://127.0.0.1:{server.port}/"
        env = {"JUPYTER_REALTIME_URL": url, "JUPYTER_REALTIME_TOKEN": TOKEN}
        manager, kernel = start_new_kernel(kernel_name="python3", env={**os.environ, **env})
        pid = manager.provisioner.process.pid  # type: ignore[union-attr]
        try:
            execute(kernel, textwrap.dedent(SETUP))
            results: dict[str, dict[str, Any]] = {}
            for name, template in CELLS.items():
                code = template.format(lines=args.lines, images=args.images)
                times: dict[str, list[float]] = {"off": [], "on": []}
                cpu: dict[str, list[float]] = {"off": [], "on": []}
                output = 0
                traffic = (0, 0, 1.0, 0, 0)
                for round_ in range(args.rounds):
                    channel = f"bench:{name}:{round_}"  # a short history to read back
                    before = cpu_seconds(pid)
                    off, output = execute(kernel, code)
                    times["off"].append(off)
                    cpu["off"].append(cpu_seconds(pid) - before)
                    before = cpu_seconds(pid)
                    on, _ = execute(kernel, f"%%realtime mirror {channel}\n{code}")
                    times["on"].append(on)
                    time.sleep(2.0)  # what waits its turn, and the cell's end, go out
                    cpu["on"].append(cpu_seconds(pid) - before)  # with the mirror's work
                    traffic = mirrored_traffic(url, channel)
                off_s, on_s = statistics.median(times["off"]), statistics.median(times["on"])
                pubs, size, duration, displays, cut = traffic
                results[name] = {
                    "off_s": off_s,
                    "on_s": on_s,
                    "ratio": on_s / off_s,
                    "min_ratio": min(times["on"]) / min(times["off"]),
                    "cpu_off": statistics.median(cpu["off"]),
                    "cpu_on": statistics.median(cpu["on"]),
                    "output_bytes": output,
                    "publications": pubs,
                    "published_bytes": size,
                    "publications_per_s": pubs / duration,
                    "bytes_per_s": size / duration,
                    "displays_mirrored": displays,
                    "left_out": cut,
                }
            delays = sorted(latency(kernel, url, args.latency_lines, 0.05))
        finally:
            kernel.stop_channels()
            manager.shutdown_kernel(now=True)
    print(f"{'cell':8} {'off s':>7} {'on s':>7} {'ratio':>6} {'output':>10} "
          f"{'pubs':>5} {'pubs/s':>7} {'sent':>10} {'sent/s':>10} {'left out':>9}")  # fmt: skip
    for name, r in results.items():
        print(
            f"{name:8} {r['off_s']:7.2f} {r['on_s']:7.2f} {r['ratio']:6.2f} "
            f"{r['output_bytes'] / 1e6:8.2f}MB {r['publications']:5d} "
            f"{r['publications_per_s']:7.1f} {r['published_bytes'] / 1e6:8.2f}MB "
            f"{r['bytes_per_s'] / 1e6:8.2f}MB {r['left_out']:9d}"
        )
    for name, r in results.items():
        print(
            f"{name}: fastest on / fastest off: {r['min_ratio']:.2f}; kernel CPU off "
            f"{r['cpu_off']:.2f} s, on {r['cpu_on']:.2f} s (the mirror's own work included)"
        )
    if delays:
        p50, p99 = delays[len(delays) // 2], delays[min(len(delays) - 1, len(delays) * 99 // 100)]
        print(f"print to subscriber: {len(delays)} lines, p50 {p50 * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")  # fmt: skip
    worst = max(r["ratio"] for r in results.values())
    print(f"worst ratio on/off (medians): {worst:.2f} (target: at most 1.20)")


if __name__ == "__main__":
    main()
