"""What every reference server shares: command line, file limit, the publication frame."""

from __future__ import annotations

import argparse
import resource
import time

import orjson

_EPOCH = "bench0"


def parse_port(description: str) -> int:
    """The ``--port`` option every reference server takes (it always binds 127.0.0.1)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    return int(parser.parse_args().port)


def raise_nofile() -> None:
    """Raise the soft RLIMIT_NOFILE to the hard limit (10,000 subscribers need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Publisher:
    """Turns a publish body into the frame to broadcast, numbered like the hub's offsets."""

    def __init__(self, channel: str = "bench") -> None:
        self.channel = channel
        self.offset = 0

    def frame(self, body: bytes) -> dict[str, object]:
        """The publication as a dict (for libraries that encode it themselves)."""
        self.offset += 1
        return {
            "channel": self.channel,
            "epoch": _EPOCH,
            "offset": self.offset,
            "data": orjson.loads(body),
            "ts": time.time(),
            "sender": "bench",
        }

    def encode(self, body: bytes) -> bytes:
        """The publication encoded once, as UTF-8 JSON."""
        return orjson.dumps(self.frame(body))


ACK = b'{"ok":true}'
