"""Shared cells: keystroke latency, bytes on the wire per keystroke, a late joiner's load
time for a 1 MB document, and the server's memory per open document.

``python benchmarks/shared_cells.py [--keys N] [--documents N]``: against one Jupyter server
with the extension (a subprocess on a free port), with pycrdt clients (the kernel's side).
The browser-to-browser keystroke latency is measured in Chromium by
``tests/test_browser_shared.py::test_keystroke_latency_between_browsers`` (``-s`` prints it).

* latency: client A inserts one character at a time; the time until client B's document
  holds it (p50, p99), over WebSocket;
* bytes: the Yjs update of one keystroke, the sync message published, the WebSocket frame
  the publisher sends and the frame each subscriber receives;
* late joiner: ``GET realtime/api/documents/C`` plus the subscribe, for a 1 MB text;
* memory: the server's resident memory grown by opening ``--documents`` documents of 1 KB,
  divided by their number;
* ``value =``: the kernel's work for ``SharedCell.value = new`` on a text of 20,000 and
  50,000 characters with 20 lines changed (a three-way edit: the time-bounded diff, the
  rebase through a colleague's insert made meanwhile, one pycrdt transaction), side by side
  with the approach it replaced (``difflib.SequenceMatcher(autojunk=False)`` against the
  text as it is now), which is quadratic: it is run on 20,000 characters only.
  ``--value-only`` runs only this part (no server).
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import functools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from pycrdt import Doc, Text  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402

from benchmarks.hubserver import TOKEN, hub_server  # noqa: E402
from jupyter_realtime.client import AsyncClient  # noqa: E402
from jupyter_realtime.documents import update_message  # noqa: E402
from jupyter_realtime.protocol import pack_binary  # noqa: E402
from jupyter_realtime.widgets._edits import apply_edits, rebase, text_edits  # noqa: E402
from jupyter_realtime.widgets._shared_doc import SharedDocument  # noqa: E402

HEADERS = {"Authorization": f"token {TOKEN}"}


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def keystrokes(url: str, count: int) -> dict[str, float]:
    async with AsyncClient(url, TOKEN) as a, AsyncClient(url, TOKEN) as b:
        writer, reader = SharedDocument(a, "bench:keys"), SharedDocument(b, "bench:keys")
        await writer.start()
        await reader.start()
        arrived = asyncio.Event()
        reader.on_change.append(lambda _: arrived.set())
        samples = []
        for i in range(count):
            arrived.clear()
            start = time.perf_counter()
            writer.text.insert(len(writer.value), "abcdefghij"[i % 10])
            await asyncio.wait_for(arrived.wait(), 10)
            samples.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.005)
        await writer.close()
        await reader.close()
    return {"p50_ms": statistics.median(samples), "p99_ms": percentile(samples, 0.99)}


async def wire_bytes(url: str) -> dict[str, int]:
    """One keystroke's sizes, from a raw WebSocket subscriber's view."""
    doc: Doc = Doc()
    text = doc.get("source", type=Text)
    text += "hello"
    first = update_message(doc.get_update())
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(5, "!")
    update = updates[-1]
    message = update_message(update)
    ws_url = url.replace("http", "ws", 1) + "realtime/ws"
    async with (
        ws_connect(ws_url, additional_headers=HEADERS) as sub,
        ws_connect(ws_url, additional_headers=HEADERS) as pub,
    ):
        # the server applies each update: the text it builds on goes first
        await pub.send(pack_binary({"id": 1, "op": "publish", "channel": "bench:bytes"}, first))
        await pub.recv()
        await sub.send('{"id":1,"op":"subscribe","channel":"bench:bytes"}')
        await sub.recv()
        uplink = pack_binary({"id": 2, "op": "publish", "channel": "bench:bytes"}, message)
        await pub.send(uplink)
        await pub.recv()
        downlink = await sub.recv()
    return {
        "yjs_update": len(update),
        "sync_message": len(message),
        "ws_frame_up": len(uplink),
        "ws_frame_down": len(downlink),
    }


async def late_joiner(url: str, megabytes: float = 1.0) -> dict[str, float]:
    chunk = "x" * 63 + "\n"
    async with AsyncClient(url, TOKEN) as a:
        writer = SharedDocument(a, "bench:big")
        await writer.start()
        while len(writer.value) < megabytes * 1_000_000:
            writer.text.insert(len(writer.value), chunk * 1000)  # 64 KB a publication
        await a.channel("bench:big").flush()
        times = []
        for _ in range(5):
            async with AsyncClient(url, TOKEN) as b:
                start = time.perf_counter()
                joiner = SharedDocument(b, "bench:big")
                await joiner.start()
                times.append((time.perf_counter() - start) * 1000)
                assert joiner.value == writer.value
                await joiner.close()
        await writer.close()
    return {"size_bytes": len(writer.value), "median_ms": statistics.median(times)}


def memory_per_document(url: str, pid: int, count: int) -> dict[str, float]:
    body = update_message(_text_update("y" * 1000))
    with httpx.Client(base_url=url, headers=HEADERS) as http:
        http.get("realtime/api/documents/bench:warmup").raise_for_status()
        before = rss(pid)
        for i in range(count):
            http.post(f"realtime/api/channels/bench:mem{i}", content=body,
                      headers={"Content-Type": "application/octet-stream"}).raise_for_status()
            http.get(f"realtime/api/documents/bench:mem{i}").raise_for_status()
        after = rss(pid)
    return {"documents": count, "bytes_per_document": (after - before) / count}


def _text_update(value: str) -> bytes:
    doc: Doc = Doc()
    doc.get("source", type=Text).insert(0, value)
    return doc.get_update()


def _code(chars: int, rng: random.Random) -> list[str]:
    lines, size = [], 0
    while size < chars:
        line = f"value_{len(lines)} = compute({rng.randrange(10**6)}, {rng.random():.6f})\n"
        lines.append(line)
        size += len(line)
    return lines


def _old_assignment(text: Text, new: str) -> None:
    """What ``value =`` did before: a difflib diff against the text as it is now."""
    old = str(text)
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    with text.doc.transaction():
        for tag, i1, i2, j1, j2 in reversed(ops):
            if tag in ("replace", "delete"):
                del text[i1:i2]
            if tag in ("replace", "insert"):
                text.insert(i1, new[j1:j2])


def _record(log: list[object], event: object) -> None:
    log.append(event.delta)  # type: ignore[attr-defined]


def value_assignment(chars: int, old_too: bool) -> dict[str, float]:
    """Milliseconds of ``value = new`` (median of 5), new approach and, if asked, the old."""
    rng = random.Random(chars)
    lines = _code(chars, rng)
    base = "".join(lines)
    changed = list(lines)
    for i in rng.sample(range(len(lines)), 20):
        changed[i] = f"value_{i} = changed({i})\n"
    new = "".join(changed)
    result: dict[str, float] = {"chars": len(base)}
    samples = []
    for _ in range(5):
        doc: Doc = Doc()
        text = doc.get("source", type=Text)
        text += base
        deltas: list[object] = []
        subscription = text.observe(functools.partial(_record, deltas))
        text.insert(0, "# a colleague's line, typed after the read\n")
        text.unobserve(subscription)
        start = time.perf_counter()
        apply_edits(text, rebase(text_edits(base, new), deltas))  # type: ignore[arg-type]
        samples.append(time.perf_counter() - start)
        assert str(text) == "# a colleague's line, typed after the read\n" + new
    result["new_ms"] = statistics.median(samples) * 1000
    if old_too:
        doc = Doc()
        text = doc.get("source", type=Text)
        text += base
        start = time.perf_counter()
        _old_assignment(text, new)
        result["old_ms"] = (time.perf_counter() - start) * 1000
    return result


def print_value_assignment() -> None:
    for chars, old_too in ((20_000, True), (50_000, False)):
        r = value_assignment(chars, old_too)
        line = f"value = on {r['chars']:,.0f} characters, 20 lines changed: {r['new_ms']:.1f} ms"
        if old_too:
            line += f" (before: difflib against the current text, {r['old_ms']:.0f} ms)"
        print(line)


async def main_async(url: str, pid: int, keys: int, documents: int) -> None:
    latency = await keystrokes(url, keys)
    print(f"keystroke A -> B (pycrdt clients, ws): p50 {latency['p50_ms']:.1f} ms, "
          f"p99 {latency['p99_ms']:.1f} ms over {keys} keystrokes")
    sizes = await wire_bytes(url)
    print("bytes of one keystroke: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    late = await late_joiner(url)
    print(f"late joiner, {late['size_bytes'] / 1e6:.1f} MB text: {late['median_ms']:.0f} ms "
          "(median of 5: state over REST, then subscribe)")
    memory = await asyncio.to_thread(memory_per_document, url, pid, documents)
    print(f"server memory per open 1 KB document: {memory['bytes_per_document'] / 1024:.1f} KiB "
          f"({documents} documents)")
    print_value_assignment()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--value-only", action="store_true")
    args = parser.parse_args()
    if args.value_only:
        print_value_assignment()
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with hub_server(workdir) as server:
            url = f"http://127.0.0.1:{server.port}/"
            asyncio.run(main_async(url, server.pid, args.keys, args.documents))


if __name__ == "__main__":
    main()
