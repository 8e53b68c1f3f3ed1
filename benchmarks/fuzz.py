"""Fuzz a live jupyter-realtime server over every transport while a good client checks it.

Run: ``python -m benchmarks.fuzz`` (100,000 inputs; ``--frames N``, ``--seed S``,
``--json PATH``). It starts ``jupyter server`` with the extension on a free 127.0.0.1
port, then sends random and mutated inputs (``fuzzgen``): WebSocket text and binary
frames, SSE / XHR streaming / long-polling / JSONP query strings and ``Last-Event-ID``
headers, HTTP-session uplink bodies, REST paths and bodies. Meanwhile a well-behaved
client publishes a numbered sequence on its own channel and two subscribers (WebSocket
and SSE) check that they get all of it, in order.

It prints, and exits non-zero on any of: a 5xx answer, an error line or traceback in the
server's log (stdout and stderr are captured), a request that never got an answer
(a hang), a good client that missed or reordered a publication, a server that died.
Counts per error code (and WebSocket close code) are printed for the record.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from benchmarks.fuzzgen import Gen
from benchmarks.hubserver import TOKEN, hub_server, report, server_errors

HEADERS = {"Authorization": f"token {TOKEN}"}
WORKERS = {"ws_text": 4, "ws_binary": 2, "stream": 4, "uplink": 2, "rest": 4}
SHARE = {"ws_text": 0.45, "ws_binary": 0.15, "stream": 0.15, "uplink": 0.1, "rest": 0.15}
HANG = 10.0  # seconds beyond what a request asked to wait


class Tally:
    def __init__(self) -> None:
        self.inputs = Counter[str]()
        self.codes = Counter[str]()  # "ws:bad_request", "http:400:bad_request", "close:4002"
        self.server_errors: list[str] = []  # 5xx answers
        self.hangs: list[str] = []
        self.samples: list[str] = []  # answers without the contract's error body


async def ws_worker(url: str, gen: Gen, kind: str, quota: int, tally: Tally) -> None:
    sent = 0
    while sent < quota:
        try:
            async with connect(url, additional_headers=HEADERS, max_size=None) as ws:
                reader = asyncio.ensure_future(read_replies(ws, tally))
                while sent < quota and not reader.done():
                    frame = gen.text_frame() if kind == "ws_text" else gen.binary_frame()
                    await ws.send(frame)
                    sent += 1
                    tally.inputs[kind] += 1
                    if sent % 50 == 0:
                        await processed(ws, tally, kind)
                await processed(ws, tally, kind)
                reader.cancel()
        except ConnectionClosed as exc:
            tally.codes[f"close:{exc.rcvd.code if exc.rcvd else 'none'}"] += 1
        except InvalidStatus as exc:
            tally.codes[f"ws-handshake:{exc.response.status_code}"] += 1


async def processed(ws: Any, tally: Tally, kind: str) -> None:
    """Wait until the server has run every frame sent so far (it answers a ping in order)."""
    try:
        await asyncio.wait_for(await ws.ping(), HANG)
    except asyncio.TimeoutError:
        tally.hangs.append(f"{kind}: no pong within {HANG} s")


async def read_replies(ws: Any, tally: Tally) -> None:
    try:
        async for msg in ws:
            if isinstance(msg, bytes):
                tally.codes["ws:publication(binary)"] += 1
                continue
            frame = orjson.loads(msg)
            if "error" in frame:
                code = frame["error"]["code"]
                tally.codes[f"ws:{code}"] += 1
                if code == "internal":
                    tally.server_errors.append(f"ws internal: {frame}")
            elif "result" in frame:
                tally.codes["ws:ok"] += 1
    except ConnectionClosed as exc:
        tally.codes[f"close:{exc.rcvd.code if exc.rcvd else 'none'}"] += 1


def record(tally: Tally, what: str, status: int, body: bytes) -> None:
    code = ""
    if status >= 400:
        try:
            code = orjson.loads(body)["error"]["code"]
        except Exception:
            code = "non-contract-body"
            if len(tally.samples) < 10:
                tally.samples.append(f"{what[:200]} -> {status} {body[:200]!r}")
    tally.codes[f"http:{status}:{code}" if code else f"http:{status}"] += 1
    if status >= 500:
        tally.server_errors.append(f"{what} -> {status} {body[:300]!r}")


async def timed(tally: Tally, what: str, wait: float, call: Any) -> None:
    try:
        await asyncio.wait_for(call, wait + HANG)
    except asyncio.TimeoutError:
        tally.hangs.append(what)
    except (httpx.TransportError, httpx.InvalidURL, UnicodeError, ValueError) as exc:
        tally.codes[f"client-refused:{type(exc).__name__}"] += 1


async def get_head(http: httpx.AsyncClient, url: str, tally: Tally, what: str, **kw: Any) -> None:
    """A GET whose answer may be an endless stream: read the status (and error body) only."""
    resp = await http.send(http.build_request("GET", url, **kw), stream=True)
    try:
        body = b"" if resp.status_code == 200 else await resp.aread()
        record(tally, what, resp.status_code, body)
    finally:
        await resp.aclose()


async def request(
    http: httpx.AsyncClient, method: str, url: str, tally: Tally, what: str, **kw: Any
) -> httpx.Response:
    resp = await http.request(method, url, **kw)
    record(tally, what, resp.status_code, resp.content)
    return resp


async def stream_worker(base: str, gen: Gen, quota: int, tally: Tally) -> None:
    async with httpx.AsyncClient(headers=HEADERS, timeout=None) as http:
        for i in range(quota):
            kind = ("sse", "stream", "poll", "jsonp")[i % 4]
            params, headers = gen.query(kind)
            try:
                wait = min(max(float(str(params.get("timeout", "0"))), 0), 60)
            except ValueError:
                wait = 0.0
            wait = wait if wait == wait else 0.0  # nan
            what = f"GET {kind} {params} {headers}"
            tally.inputs[kind] += 1
            call = get_head(http, f"{base}realtime/{kind}", tally, what, params=params,
                            headers=headers)  # fmt: skip
            await timed(tally, what, wait, call)


async def uplink_worker(base: str, gen: Gen, quota: int, tally: Tally) -> None:
    async with httpx.AsyncClient(headers=HEADERS, timeout=None) as http:
        sid = ""
        for i in range(quota):
            if i % 200 == 0:
                opened = await http.get(f"{base}realtime/poll", params={"session": "1"})
                sid = opened.json()["session"]
            elif i % 20 == 0:  # drain the session so its queue does not fill up
                await http.get(f"{base}realtime/poll", params={"session": sid, "timeout": "0"})
            target = sid if gen.r.random() < 0.95 else gen.r.choice(["nope", sid[:-1] + "x"])
            body = gen.uplink_body()
            what = f"POST session {body[:200]!r}"
            tally.inputs["uplink"] += 1
            call = request(http, "POST", f"{base}realtime/session/{target}", tally, what,
                           content=body)  # fmt: skip
            await timed(tally, what, 0, call)


async def rest_worker(base: str, gen: Gen, quota: int, tally: Tally) -> None:
    async with httpx.AsyncClient(headers=HEADERS, timeout=None) as http:
        for _ in range(quota):
            method, path, params, body, headers = gen.rest()
            path = "/".join(quote(part, safe="%") for part in path.split("/"))
            what = f"{method} {path} {params} {body[:200]!r}"
            tally.inputs["rest"] += 1
            call = request(http, method, f"{base}realtime/{path}", tally, what, params=params,
                           content=body or None, headers=headers)  # fmt: skip
            await timed(tally, what, 0, call)


class GoodClient:
    """Publishes ``seq`` numbers on its own channel; a WebSocket and an SSE reader check them."""

    def __init__(self, base: str, ws_url: str, rate: float = 50.0) -> None:
        self.base, self.ws_url, self.rate = base, ws_url, rate
        self.channel = "canary"
        self.nonce = secrets.token_hex(4)
        self.sent = 0
        self.received: dict[str, list[int]] = {"ws": [], "sse": []}
        self.failures: list[str] = []
        self.ready = asyncio.Event()
        self.latency_max = 0.0
        self._sent_at: dict[int, float] = {}

    def take(self, who: str, data: Any) -> None:
        if isinstance(data, dict) and data.get("nonce") == self.nonce:
            self.received[who].append(data["seq"])
            self.latency_max = max(self.latency_max, time.monotonic() - self._sent_at[data["seq"]])

    async def ws_reader(self) -> None:
        async with connect(self.ws_url, additional_headers=HEADERS) as ws:
            command = {"id": 1, "op": "subscribe", "channel": self.channel}
            await ws.send(orjson.dumps(command).decode())
            async for msg in ws:
                if isinstance(msg, bytes):
                    continue  # binary publications of the fuzzers into the same channel
                frame = orjson.loads(msg)
                if frame.get("id") == 1:
                    self.ready.set()
                elif frame.get("channel") == self.channel and "offset" in frame:
                    self.take("ws", frame.get("data"))

    async def sse_reader(self) -> None:
        async with httpx.AsyncClient(headers=HEADERS, timeout=None) as http:
            url = f"{self.base}realtime/sse?channel={self.channel}"
            async with aconnect_sse(http, "GET", url) as source:
                async for event in source.aiter_sse():
                    if event.data:
                        frame = orjson.loads(event.data)
                        if "offset" in frame and "event" not in frame:
                            self.take("sse", frame.get("data"))

    async def publish(self, stop: asyncio.Event) -> None:
        await self.ready.wait()
        await asyncio.sleep(0.5)  # the SSE reader subscribes too
        async with connect(self.ws_url, additional_headers=HEADERS) as ws:
            while not stop.is_set():
                self._sent_at[self.sent] = time.monotonic()
                data = {"nonce": self.nonce, "seq": self.sent}
                command = {"id": self.sent, "op": "publish", "channel": self.channel, "data": data}
                await ws.send(orjson.dumps(command).decode())
                reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                if "result" not in reply:
                    self.failures.append(f"publish {self.sent} answered {reply}")
                self.sent += 1
                await asyncio.sleep(1 / self.rate)

    def verdict(self) -> list[str]:
        out = list(self.failures)
        for who, seqs in self.received.items():
            if seqs != list(range(self.sent)):
                missing = sorted(set(range(self.sent)) - set(seqs))
                out.append(f"{who} reader: {len(seqs)} of {self.sent}, missing {missing[:10]}")
        return out


async def fuzz(port: int, frames: int, seed: int) -> dict[str, Any]:
    base, ws_url = f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/realtime/ws"
    tally, good, stop = Tally(), GoodClient(base, ws_url), asyncio.Event()
    background = [asyncio.ensure_future(c) for c in
                  (good.ws_reader(), good.sse_reader(), good.publish(stop))]  # fmt: skip
    jobs = []
    for n, (kind, workers) in enumerate(WORKERS.items()):
        quota = int(frames * SHARE[kind] / workers) + 1
        for w in range(workers):
            gen = Gen(seed * 1000 + n * 10 + w, good.channel)
            if kind.startswith("ws_"):
                jobs.append(ws_worker(ws_url, gen, kind, quota, tally))
            elif kind == "stream":
                jobs.append(stream_worker(base, gen, quota, tally))
            elif kind == "uplink":
                jobs.append(uplink_worker(base, gen, quota, tally))
            else:
                jobs.append(rest_worker(base, gen, quota, tally))
    started = time.monotonic()
    await asyncio.gather(*jobs)
    elapsed = time.monotonic() - started
    stop.set()
    await asyncio.sleep(1.0)  # the last publications reach the readers
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    return {
        "seed": seed,
        "inputs": dict(tally.inputs),
        "total_inputs": sum(tally.inputs.values()),
        "seconds": round(elapsed, 1),
        "codes": dict(sorted(tally.codes.items())),
        "server_5xx_or_internal": tally.server_errors[:20],
        "count_5xx_or_internal": len(tally.server_errors),
        "hangs": tally.hangs[:20],
        "non_contract_samples": tally.samples,
        "good_client": {
            "published": good.sent,
            "ws_received": len(good.received["ws"]),
            "sse_received": len(good.received["sse"]),
            "max_latency_s": round(good.latency_max, 3),
            "failures": good.verdict(),
        },
    }


def run(frames: int, seed: int, workdir: Path) -> dict[str, Any]:
    options = ["--RealtimeApp.jsonp_enabled=True"]
    with hub_server(workdir, options) as server:
        result = asyncio.run(fuzz(server.port, frames, seed))
        alive = server.proc is not None and server.proc.poll() is None
    result["server_alive_at_end"] = alive
    errors = server_errors(server)
    result["server_log_errors"] = errors[:20]
    result["count_server_log_errors"] = len(errors)
    result["ok"] = alive and not (
        errors or result["hangs"] or result["count_5xx_or_internal"]
        or result["good_client"]["failures"]
    )  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000, help="inputs to send in all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="realtime-fuzz-") as tmp:
        result = run(args.frames, args.seed, Path(tmp))
    report(result, args.json)


if __name__ == "__main__":
    main()
