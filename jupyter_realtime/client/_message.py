"""A publication as the client receives it.

Public name: :class:`Message`. Built from a text frame (``data``, or ``data_b64`` for
binary data on text transports and in history) or from a WebSocket binary frame (a JSON
header, then the raw bytes), as ``docs/protocol.md`` describes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ..protocol import Position

__all__ = ["Message"]


@dataclass(frozen=True, slots=True)
class Message:
    """One publication: ``data`` is a JSON value, or ``bytes`` for binary data.

    ``sender`` and ``sender_name`` are who published it as the server verified: the
    Jupyter user (or kernel) id and the display name to show for it (None when the
    server stamped none, as for publications stored by older versions).
    """

    channel: str
    epoch: str
    offset: int
    data: Any
    ts: float = 0.0
    sender: str | None = None
    sender_name: str | None = None
    key: str | None = None  # the publication's key, when it was published with one

    @property
    def position(self) -> Position:
        return Position(self.epoch, self.offset)

    @property
    def binary(self) -> bool:
        return isinstance(self.data, bytes)

    @classmethod
    def from_frame(cls, frame: dict[str, Any], data: Any = None) -> Message:
        """A message from a publication frame (``data`` given for a binary frame's bytes)."""
        if data is None:
            data = frame["data"] if "data" in frame else base64.b64decode(frame["data_b64"])
        return cls(
            frame["channel"],
            frame["epoch"],
            frame["offset"],
            data,
            frame.get("ts", 0.0),
            frame.get("sender"),
            frame.get("sender_name"),
            frame.get("key"),
        )

    def to_frame(self) -> dict[str, Any]:
        """The publication frame as text transports carry it (``data_b64`` when binary)."""
        frame: dict[str, Any] = {
            "channel": self.channel,
            "epoch": self.epoch,
            "offset": self.offset,
            "ts": self.ts,
            "sender": self.sender,
        }
        if self.sender_name is not None:
            frame["sender_name"] = self.sender_name
        if self.key is not None:
            frame["key"] = self.key
        if self.binary:
            frame["data_b64"] = base64.b64encode(self.data).decode("ascii")
        else:
            frame["data"] = self.data
        return frame
