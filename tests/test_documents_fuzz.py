"""The server's document is the one truth: mutated updates never make pycrdt (the server, the
kernels) and Yjs (the browsers, run in node from labextension/node_modules) read different
texts, and updates that declare absurd sizes are refused before anything is allocated."""

from __future__ import annotations

import json
import random
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from jupyter_realtime.brokers.memory import MemoryBroker
from jupyter_realtime.documents import DocumentService, update_message
from jupyter_realtime.documents.codec import strict_update_of
from jupyter_realtime.documents.scan import AbsurdUpdate, MalformedUpdate, scan_update
from jupyter_realtime.errors import RealtimeError
from jupyter_realtime.hub import Hub

ROOT = Path(__file__).resolve().parent.parent
YJS_TEXTS = ROOT / "tests" / "fixtures" / "yjs_texts.cjs"
needs_yjs = pytest.mark.skipif(
    not (ROOT / "labextension" / "node_modules" / "yjs").is_dir(), reason="yjs not installed"
)


def yjs_texts(updates: list[bytes]) -> list[object]:
    """The text after each update, as Yjs reads it."""
    run = subprocess.run(
        ["node", str(YJS_TEXTS)], input=json.dumps({"updates": [u.hex() for u in updates]}),
        capture_output=True, text=True, timeout=60, check=True,
    )
    result: list[object] = json.loads(run.stdout)
    return result


def valid_updates() -> list[bytes]:
    """Updates of a few edits by two writers: inserts, deletes, a format, an emoji."""
    a: Doc = Doc()
    b: Doc = Doc()
    updates: list[bytes] = []
    for doc in (a, b):
        doc.observe(lambda event: updates.append(event.update))
    ta, tb = a.get("source", type=Text), b.get("source", type=Text)
    ta += "hello world"
    b.apply_update(a.get_update())
    tb.insert(5, ", dear")
    del ta[0:1]
    ta.insert(0, "H")
    tb.insert(len(str(tb)), " \N{GRINNING FACE} done")
    ta.format(0, 5, {"bold": True})
    a.apply_update(b.get_update())
    del ta[3:9]
    return updates


def mutate(rng: random.Random, update: bytes) -> bytes:
    data = bytearray(update)
    kind = rng.randrange(7)
    i = rng.randrange(len(data))
    if kind == 0:
        data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data[i] = rng.randrange(256)
    elif kind == 2:
        data.insert(i, rng.randrange(256))
    elif kind == 3:
        del data[i]
    elif kind == 4:
        del data[i:]
    elif kind == 5:
        j = rng.randrange(i, len(data)) + 1
        data[j:j] = data[i:j]  # a repeated section (a client block twice, say)
    else:
        data[i:i + 1] = bytes([0xFF, 0xFF, 0x7F])  # a large varint
    return bytes(data)


@needs_yjs
async def test_mutated_updates_never_make_pycrdt_and_yjs_read_different_texts() -> None:
    hub = Hub(MemoryBroker())
    service = DocumentService(hub)
    rng = random.Random(20261208)
    base = valid_updates()
    for update in base[:3]:  # a document to edit
        await hub.publish("fuzz", update_message(update), binary=True, sender="alice")
    refused = accepted = 0
    server_texts: list[tuple[int, str]] = []  # (channel offset, server text) after each
    for _ in range(400):
        mutated = mutate(rng, rng.choice(base))
        try:
            await hub.publish("fuzz", update_message(mutated), binary=True, sender="mallory")
            accepted += 1
        except RealtimeError as exc:
            assert exc.code == "bad_request", exc
            refused += 1
        offset = (await hub.position("fuzz")).offset
        server_texts.append((offset, await service.text("fuzz")))
    assert refused > 50 and accepted > 20, (refused, accepted)

    history = (await hub.broker.history("fuzz", since=None, limit=10_000)).publications
    updates = [strict_update_of(pub.payload) for pub in history]
    in_yjs = yjs_texts(updates)
    assert not [t for t in in_yjs if not isinstance(t, str)], "Yjs threw on a relayed update"
    py: Doc = Doc()
    in_pycrdt = []
    for update in updates:
        py.apply_update(update)
        in_pycrdt.append(str(py.get("source", type=Text)))
    assert in_yjs == in_pycrdt
    first = history[0].offset
    for offset, text in server_texts:  # after each publish, every reader reads the server's
        assert in_yjs[offset - first] == text
    assert in_yjs[-1] == await service.text("fuzz")


def test_every_update_pycrdt_writes_passes_the_scan() -> None:
    """(Yjs's own updates pass it in every browser test: the server applies them all.)"""
    for update in valid_updates():
        scan_update(update)
    doc: Doc = Doc()
    for update in valid_updates():
        doc.apply_update(update)
    scan_update(doc.get_update())


@pytest.mark.parametrize(
    ("update", "what"),
    [
        (bytes([0x80, 0xC2, 0xD7, 0x2F, 0, 0, 0]), "100000000 clients"),
        (bytes([1, 0xFF, 0xFF, 0xFF, 0x7F, 1, 0]), "structs"),
        (bytes([1, 1, 1, 0, 0x04, 0x01, 0x01, ord("s"), 0x04, 0xFF, 0xFF, 0x3F]), "bytes declared"),
        (bytes([0, 0xFF, 0xFF, 0xFF, 0x7F]), "clients in the delete set"),
    ],
)
def test_absurd_sizes_are_refused_before_anything_is_allocated(update: bytes, what: str) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(AbsurdUpdate, match=what):
        scan_update(update)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.05  # microseconds when the machine is idle; yrs took 110 ms
    assert peak < 64 << 10  # nothing in proportion to what the update declares


async def test_an_absurd_update_is_refused_fast_and_the_document_keeps_serving() -> None:
    hub = Hub(MemoryBroker())
    service = DocumentService(hub)
    good = valid_updates()
    await hub.publish("d", update_message(good[0]), binary=True, sender="alice")
    start = time.perf_counter()
    with pytest.raises(RealtimeError) as info:
        await hub.publish("d", update_message(bytes([0x80, 0xC2, 0xD7, 0x2F, 0, 0, 0])),
                          binary=True, sender="mallory")
    assert time.perf_counter() - start < 0.05
    assert info.value.code == "bad_request"
    assert "absurd" in str(info.value)
    with pytest.raises(RealtimeError, match="malformed"):
        await hub.publish("d", update_message(good[2])[:-1] + b"\x00\x01", binary=True)
    await hub.publish("d", update_message(good[2]), binary=True, sender="alice")
    assert await service.text("d") == "hello, dear world"
    assert service.route.refused == 2


async def test_a_repeat_is_a_duplicate_and_relays_nothing() -> None:
    hub = Hub(MemoryBroker())
    DocumentService(hub)
    update = valid_updates()[0]
    first = await hub.publish("d", update_message(update), binary=True)
    again = await hub.publish("d", update_message(update), binary=True)
    assert (again.epoch, again.offset) == (first.epoch, first.offset)
    assert (await hub.position("d")).offset == 1


def test_scan_refuses_what_the_two_libraries_could_read_differently() -> None:
    doc: Doc = Doc()
    doc.get("source", type=Text).insert(0, "ab")
    update = doc.get_update()
    with pytest.raises(MalformedUpdate, match="after the end"):
        scan_update(update + b"\x00")
    twice = bytes([2]) + update[1:-1] + update[1:-1] + b"\x00"  # the same client block twice
    with pytest.raises(MalformedUpdate, match="twice"):
        scan_update(twice)
    bad_utf8 = update.replace(b"\x02ab", b"\x02\xff\xfe")
    with pytest.raises(MalformedUpdate, match="UTF-8"):
        scan_update(bad_utf8)
