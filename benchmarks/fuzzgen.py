"""Random and mutated inputs for the live fuzz run (``benchmarks/fuzz.py``): pure functions.

Public names: :class:`Gen`. Every generator takes its randomness from one seeded
``random.Random``, so a run is reproducible from its seed. Inputs are built from valid
ones (commands, binary frames, cursors, query strings, REST requests) and then broken:
bytes flipped, cut, repeated or inserted; values swapped for values of other types;
nesting, numbers and strings pushed to their limits.
"""

from __future__ import annotations

import base64
import random
import string
from typing import Any

import orjson

from jupyter_realtime.protocol import Position, encode_cursor, pack_binary

__all__ = ["Gen"]

OPS = ["subscribe", "unsubscribe", "publish", "history", "presence", "ping", "teleport", ""]
CHANNEL_CHARS = string.ascii_letters + string.digits + "_-.:@"
ODD_STRINGS = [
    "", " ", "a/b", "..", "%2F", "<img src=x onerror=alert(1)>", "\u0000", "\ud7ff\ue000",
    "é", "🙂", "a" * 201, "user:alice", "secret:x", "null", "[]", "{}", "\\", "'\"",
]  # fmt: skip
ODD_NUMBERS = [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 1e308, -0.0, 0.5, 1001]


class Gen:
    def __init__(self, seed: int, canary: str) -> None:
        self.r = random.Random(seed)
        self.canary = canary  # the well-behaved client's channel: publish to it too

    # -- values --

    def channel(self) -> str:
        r = self.r
        roll = r.random()
        if roll < 0.5:
            return r.choice(["fz", "fz:a", "fz.b", self.canary, "fz@c", "x"])
        if roll < 0.8:
            return "".join(r.choice(CHANNEL_CHARS) for _ in range(r.randint(1, 30)))
        return r.choice(ODD_STRINGS)

    def scalar(self) -> Any:
        r = self.r
        return r.choice(
            [None, True, False, r.choice(ODD_NUMBERS), r.choice(ODD_STRINGS), r.randint(-9, 99)]
        )

    def value(self, depth: int = 0) -> Any:
        r = self.r
        roll = r.random()
        if depth > 3 or roll < 0.5:
            return self.scalar()
        if roll < 0.75:
            return [self.value(depth + 1) for _ in range(r.randint(0, 4))]
        return {r.choice(["a", "op", "id", "channel", "data"]): self.value(depth + 1)
                for _ in range(r.randint(0, 4))}  # fmt: skip

    def position(self) -> dict[str, Any]:
        return {"epoch": self.r.choice(["", "zz", "a1b2c3"]), "offset": self.r.randint(0, 50)}

    def command(self) -> dict[str, Any]:
        """A command that is valid more often than not."""
        r = self.r
        cmd: dict[str, Any] = {"op": r.choice(OPS[:6]), "channel": self.channel()}
        if r.random() < 0.8:
            cmd["id"] = r.randint(0, 10**6)
        if cmd["op"] == "publish":
            cmd["data"] = self.value()
        if cmd["op"] in ("subscribe", "history") and r.random() < 0.5:
            cmd["since"] = self.position()
        if cmd["op"] == "history" and r.random() < 0.5:
            cmd["limit"] = r.choice([1, 10, 1000, 0, -1, "x"])
        if r.random() < 0.3:  # a field of the wrong type, or an unknown one
            cmd[r.choice(["op", "id", "channel", "since", "limit", "data", "data_b64", "zz"])] = (
                self.value()
            )
        return cmd

    # -- byte mutations --

    def mutate(self, raw: bytes) -> bytes:
        r = self.r
        data = bytearray(raw)
        for _ in range(r.randint(1, 4)):
            kind = r.randrange(6)
            i = r.randrange(len(data) + 1)
            if kind == 0 and data:
                data[min(i, len(data) - 1)] = r.randrange(256)
            elif kind == 1:
                del data[i:]
            elif kind == 2:
                data[i:i] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
            elif kind == 3:
                data[i:i] = data[r.randrange(len(data) + 1) :][: r.randint(1, 40)]
            elif kind == 4:
                data[i:i] = r.choice([b"{", b"[", b'"', b"}", b"\\", b"\x00", b"1e999"])
            elif kind == 5 and data:
                j = r.randrange(len(data))
                data[j:j] = data[j : j + 1] * r.randint(2, 200)
        return bytes(data)

    def text_frame(self) -> str:
        """A WebSocket text frame: JSON (valid, broken or extreme). Always valid UTF-8."""
        r = self.r
        roll = r.random()
        if roll < 0.4:
            return orjson.dumps(self.command()).decode()
        if roll < 0.85:
            return self.mutate(orjson.dumps(self.command())).decode("utf-8", "replace")
        return r.choice([
            "[" * r.randint(1, 5000),
            '{"op":"ping","id":' + "9" * r.randint(19, 400) + "}",
            '{"op":"publish","channel":"fz","data":"' + "x" * r.choice([10, 1_100_000]) + '"}',
            orjson.dumps([self.command() for _ in range(3)]).decode(),
            "".join(r.choice(string.printable) for _ in range(r.randint(0, 100))),
        ])  # fmt: skip

    def binary_frame(self) -> bytes:
        r = self.r
        header = self.command()
        header["op"] = "publish" if r.random() < 0.8 else header["op"]
        header.pop("data", None)
        frame = pack_binary(header, r.randbytes(r.randint(0, 64)))
        roll = r.random()
        if roll < 0.4:
            return frame
        if roll < 0.8:
            return self.mutate(frame)
        return r.randint(0, 2**32 - 1).to_bytes(4, "big") + r.randbytes(r.randint(0, 64))

    # -- HTTP --

    def cursor(self) -> str:
        r = self.r
        good = encode_cursor({self.channel(): Position("zz", r.randint(0, 9))})
        roll = r.random()
        if roll < 0.3:
            return good
        if roll < 0.7:
            return self.mutate(good.encode()).decode("latin-1")
        raw = orjson.dumps(self.value())
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def timeout(self) -> str:
        return self.r.choice(["0", "0.2", "0.5", "-1", "61", "nan", "inf", "1e400", "x", ""])

    def query(self, kind: str) -> tuple[dict[str, str | list[str]], dict[str, str]]:
        """Parameters and headers for ``GET realtime/{kind}`` (sse, stream, poll, jsonp)."""
        r = self.r
        params: dict[str, str | list[str]] = {}
        headers: dict[str, str] = {}
        if r.random() < 0.9:
            params["channel"] = [self.channel() for _ in range(r.choice([1, 1, 2, 101]))]
        if r.random() < 0.5:
            params[r.choice(["cursor", "last_event_id"])] = self.cursor()
        if kind == "sse" and r.random() < 0.3:
            cursor = self.cursor().encode("latin-1", "replace")
            headers["Last-Event-ID"] = cursor.decode("ascii", "replace")
        if r.random() < 0.15:
            params["session"] = r.choice(["1", "0", "true", "nope", "x" * 30])
        if kind in ("poll", "jsonp"):
            params["timeout"] = self.timeout()
        if kind == "jsonp":
            params["callback"] = r.choice(["cb", "a.b.c", "alert(1)", "", "x" * 200, "$"])
        return params, headers

    def uplink_body(self) -> bytes:
        r = self.r
        if r.random() < 0.3:
            return orjson.dumps([self.command() for _ in range(r.choice([1, 3, 101]))])
        return self.text_frame().encode()

    def rest(self) -> tuple[str, str, dict[str, Any], bytes, dict[str, str]]:
        """method, path (under realtime/), params, body, headers of a REST request."""
        r = self.r
        channel = self.channel()
        roll = r.randrange(5)
        if roll == 0:
            ctype = r.choice(["application/json", "application/octet-stream", "text/plain", ""])
            body = orjson.dumps(self.value()) if r.random() < 0.5 else self.mutate(b'{"a": [1]}')
            return "POST", f"api/channels/{channel}", {}, body, {"Content-Type": ctype}
        if roll == 1:
            params = {"limit": r.choice(["1", "0", "1001", "x", "-5"]),
                      "since": r.choice(["0", "3", "-1", "x"]), "epoch": r.choice(["zz", ""])}
            return "GET", f"api/channels/{channel}/history", params, b"", {}
        if roll == 2:
            return "GET", f"api/channels/{channel}/presence", {}, b"", {}
        if roll == 3:
            return "GET", "api/channels", {}, b"", {}
        path = r.choice(["api/channels/", "api/channels/a/b", "api/channels/%00", "session/zz"])
        return r.choice(["GET", "POST", "DELETE", "PUT"]), path, {}, self.mutate(b"{}"), {}
