"""The wire protocol v1: frames, validation, and their encoding with orjson.

Public names: :class:`Publication`, :class:`Position`, :func:`decode_command`,
:func:`reply`, :func:`error_reply`, :func:`pack_binary`,
:func:`unpack_binary`, :func:`encode_cursor`, :func:`decode_cursor`,
:func:`validate_channel`. ``docs/protocol.md`` is the contract this module implements;
the TypedDicts below mirror it and are mirrored once more in
``labextension/src/client/protocol.ts``.

Imports nothing of the project but :mod:`errors`, so the client runs in any kernel.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Any, Literal, NamedTuple, TypedDict

import orjson

from .errors import ErrorCode, RealtimeError

__all__ = [
    "CHANNEL_RE",
    "KEY_RE",
    "Command",
    "Position",
    "Publication",
    "decode_command",
    "decode_cursor",
    "encode_cursor",
    "encode_kept",
    "error_reply",
    "gap_event",
    "max_frame_bytes",
    "pack_binary",
    "reply",
    "subscribed_event",
    "text_size",
    "unpack_binary",
    "validate_channel",
    "validate_idempotency_key",
    "validate_key",
]

CHANNEL_RE = re.compile(r"[A-Za-z0-9_\-.:@]{1,200}")
# A publication's key (the latest publication of each key outlives history): channel
# characters plus "/", "=", "+" and "," so a path-like or composite key needs no escaping
MAX_KEY = 200
KEY_RE = re.compile(r"[A-Za-z0-9_\-.:@/=+,]{1,200}")
OPS = ("subscribe", "unsubscribe", "publish", "history", "presence", "ping")
MAX_HISTORY_LIMIT = 1000
MAX_IDEMPOTENCY_KEY = 200  # characters of an idempotency key
DEFAULT_HISTORY_LIMIT = 100
# What a frame may add to its data: the header (channel, epoch, sender, ts), JSON framing
# and, on SSE and XHR streams, the cursor of every channel of the stream
FRAME_OVERHEAD = 64 << 10


class Position(NamedTuple):
    """A place in a channel: the last offset seen inside an epoch."""

    epoch: str
    offset: int


# -- frames as TypedDicts (the documentation of the wire; the code uses Publication) --


class SinceFrame(TypedDict):
    epoch: str
    offset: int


class SubscribeCommand(TypedDict, total=False):
    id: int | str
    op: Literal["subscribe"]
    channel: str
    since: SinceFrame
    presence: bool


class PublishCommand(TypedDict, total=False):
    id: int | str
    op: Literal["publish"]
    channel: str
    data: Any
    data_b64: str
    idempotency_key: str  # 1 to 200 characters; a repeat is stored once (docs/protocol.md)
    key: str  # KEY_RE; the latest publication of each key is kept beyond history


class HistoryCommand(TypedDict, total=False):
    id: int | str
    op: Literal["history"]
    channel: str
    since: SinceFrame
    limit: int
    key: str  # the latest publication of this key (since is then ignored)
    key_prefix: str  # the latest publication of each key starting with it


class ChannelCommand(TypedDict, total=False):
    id: int | str
    op: Literal["unsubscribe", "presence", "ping"]
    channel: str


Command = SubscribeCommand | PublishCommand | HistoryCommand | ChannelCommand


class PublicationFrame(TypedDict, total=False):
    channel: str
    epoch: str
    offset: int
    data: Any
    data_b64: str
    ts: float
    sender: str | None
    sender_name: str
    key: str  # only when the publication was published with a key


class ErrorFrame(TypedDict):
    code: str
    message: str


class ReplyFrame(TypedDict, total=False):
    id: int | str
    result: dict[str, Any]
    error: ErrorFrame


class EventFrame(TypedDict, total=False):
    event: Literal["join", "leave", "gap", "subscribed", "session", "disconnect"]
    channel: str


# -- publications --


class Publication:
    """One publication, encoded once and shared by every subscriber.

    ``payload`` is the JSON text of ``data``, or the raw bytes when ``binary``. Frames for
    each transport are computed on first use and kept in ``frames`` (keyed by the
    transport), so a publication is encoded once per publish, not once per subscriber.
    Histories keep :meth:`bare` copies, so the cached frames live only as long as the
    live delivery (a replay encodes again, on a copy that dies with it).
    """

    __slots__ = (
        "channel", "epoch", "offset", "ts", "sender", "sender_name", "payload", "binary", "frames",
        "key",
    )

    def __init__(
        self,
        channel: str,
        epoch: str,
        offset: int,
        payload: bytes,
        *,
        binary: bool = False,
        ts: float = 0.0,
        sender: str | None = None,
        sender_name: str | None = None,
        key: str | None = None,
    ) -> None:
        self.channel = channel
        self.epoch = epoch
        self.offset = offset
        self.payload = payload
        self.binary = binary
        self.ts = ts
        self.sender = sender
        # what views show as the author: stamped by the server with ``sender``
        self.sender_name = sender_name
        self.key = key
        self.frames: dict[str, bytes] = {}

    @property
    def position(self) -> Position:
        return Position(self.epoch, self.offset)

    @property
    def data(self) -> Any:
        """The data as a Python value (bytes when binary)."""
        return self.payload if self.binary else orjson.loads(self.payload)

    def header(self) -> dict[str, Any]:
        """The publication frame without its data (``sender_name`` when the server
        stamped one: publications stored by older versions have none; ``key`` only when it
        has one)."""
        header: dict[str, Any] = {
            "channel": self.channel,
            "epoch": self.epoch,
            "offset": self.offset,
            "ts": self.ts,
            "sender": self.sender,
        }
        if self.sender_name is not None:
            header["sender_name"] = self.sender_name
        if self.key is not None:
            header["key"] = self.key
        return header

    def to_frame(self) -> dict[str, Any]:
        """The text frame as a dict whose data is embedded without re-encoding."""
        frame = self.header()
        if self.binary:
            frame["data_b64"] = base64.b64encode(self.payload).decode("ascii")
        else:
            frame["data"] = orjson.Fragment(self.payload)
        return frame

    def bare(self) -> Publication:
        """The same publication without cached frames: what a history keeps, so that the
        per-transport copies die with the live delivery instead of staying in memory."""
        return Publication(
            self.channel,
            self.epoch,
            self.offset,
            self.payload,
            binary=self.binary,
            ts=self.ts,
            sender=self.sender,
            sender_name=self.sender_name,
            key=self.key,
        )

    def json(self) -> bytes:
        """The text frame (data, or data_b64 when binary), encoded once."""
        frame = self.frames.get("json")
        if frame is None:
            frame = self.frames["json"] = encode_kept(self.to_frame())
        return frame

    def __repr__(self) -> str:
        return f"Publication({self.channel!r}, {self.epoch!r}, {self.offset})"


def text_size(pub: Publication) -> int:
    """About the bytes of ``pub`` as a text frame, without encoding it (binary data
    travels as base64 on text transports: four bytes for three)."""
    size = len(pub.payload)
    if pub.binary:
        size = 4 * -(-size // 3)
    names = len(pub.sender or "") + 2 * len(pub.sender_name or "")  # escapes, field name
    return size + len(pub.channel) + len(pub.epoch) + names + len(pub.key or "") + 104


def max_frame_bytes(max_message_size: int) -> int:
    """The largest frame a publication of ``max_message_size`` bytes of data can become on
    any transport: base64 inflates binary data by 4/3, and a frame adds at most
    ``FRAME_OVERHEAD``."""
    return 4 * -(-max_message_size // 3) + FRAME_OVERHEAD


# -- encoding --


def encode_kept(value: Any) -> bytes:
    """JSON bytes to keep (a publication's payload and cached frames, held by history).

    ``orjson.dumps`` returns its whole working buffer behind the bytes object, 4 KiB at
    least (more for larger values), so a 250-byte payload held in history costs 4 KiB; a
    copy of exactly the encoded bytes does not. See ``docs/security.md`` (soak figures).
    """
    return memoryview(orjson.dumps(value)).tobytes()


def gap_event(channel: str, position: Position) -> dict[str, Any]:
    """The event that reports lost publications: delivery goes on after ``position``."""
    return {"event": "gap", "channel": channel, "epoch": position.epoch, "offset": position.offset}


def subscribed_event(channel: str, position: Position, recovered: bool) -> dict[str, Any]:
    """The event that carries a subscription's position on a stream, after its replay."""
    return {
        "event": "subscribed",
        "channel": channel,
        "epoch": position.epoch,
        "offset": position.offset,
        "recovered": recovered,
    }


def reply(cmd_id: int | str | None, result: dict[str, Any]) -> dict[str, Any]:
    return {"id": cmd_id, "result": result}


def error_reply(cmd_id: int | str | None, error: RealtimeError) -> dict[str, Any]:
    return {"id": cmd_id, "error": error.to_dict()}


def pack_binary(header: dict[str, Any], data: bytes) -> bytes:
    """A binary frame: 4-byte big-endian header length, JSON header, raw bytes."""
    head = orjson.dumps(header)
    return struct.pack(">I", len(head)) + head + data


def unpack_binary(frame: bytes) -> tuple[dict[str, Any], bytes]:
    if len(frame) < 4:
        raise RealtimeError(ErrorCode.BAD_REQUEST, "binary frame shorter than its header")
    (size,) = struct.unpack_from(">I", frame)
    if size > len(frame) - 4:
        raise RealtimeError(ErrorCode.BAD_REQUEST, "binary frame header length exceeds frame")
    try:
        header = orjson.loads(frame[4 : 4 + size])
    except orjson.JSONDecodeError as exc:
        raise RealtimeError(
            ErrorCode.BAD_REQUEST, f"binary frame header is not JSON: {exc}"
        ) from None
    if not isinstance(header, dict):
        raise RealtimeError(ErrorCode.BAD_REQUEST, "binary frame header must be a JSON object")
    return header, frame[4 + size :]


# -- validation --


def validate_channel(channel: Any) -> str:
    if not isinstance(channel, str) or CHANNEL_RE.fullmatch(channel) is None:
        raise RealtimeError(
            ErrorCode.BAD_REQUEST,
            f"bad channel name {channel!r}: 1 to 200 characters of A-Z a-z 0-9 _ - . : @",
        )
    return channel


def validate_since(since: Any) -> Position | None:
    if since is None:
        return None
    if (
        not isinstance(since, dict)
        or not isinstance(since.get("epoch"), str)
        or type(since.get("offset")) is not int
        or since["offset"] < 0
    ):
        raise RealtimeError(
            ErrorCode.BAD_REQUEST, "since must be {epoch: string, offset: non-negative integer}"
        )
    return Position(since["epoch"], since["offset"])


def validate_limit(limit: Any) -> int:
    if limit is None:
        return DEFAULT_HISTORY_LIMIT
    if type(limit) is not int or not 0 < limit <= MAX_HISTORY_LIMIT:
        raise RealtimeError(
            ErrorCode.BAD_REQUEST, f"limit must be an integer from 1 to {MAX_HISTORY_LIMIT}"
        )
    return limit


def validate_idempotency_key(key: Any) -> str | None:
    """A publish's ``idempotency_key`` (None when absent): a string of 1 to 200 characters."""
    if key is None:
        return None
    if not isinstance(key, str) or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise RealtimeError(
            ErrorCode.BAD_REQUEST,
            f"idempotency_key must be a string of 1 to {MAX_IDEMPOTENCY_KEY} characters",
        )
    return key


def validate_key(key: Any) -> str | None:
    """A publication's ``key`` (None when absent): 1 to 200 characters of ``A-Z a-z 0-9
    _ - . : @ / = + ,``; anything else is ``bad_key``."""
    if key is None:
        return None
    if not isinstance(key, str) or KEY_RE.fullmatch(key) is None:
        shown = repr(key)[:60] if isinstance(key, str) else type(key).__name__
        raise RealtimeError(
            ErrorCode.BAD_KEY,
            f"key must be 1 to {MAX_KEY} characters of A-Z a-z 0-9 _ - . : @ / = + , "
            f"(got {shown})",
        )
    return key


def command_id(frame: Any) -> int | str | None:
    """The ``id`` of a frame if it has a usable one (so an error can still be replied)."""
    if isinstance(frame, dict):
        cid = frame.get("id")
        if isinstance(cid, (int, str)) and not isinstance(cid, bool):
            return cid
    return None


def decode_command(raw: str | bytes) -> dict[str, Any]:
    """Parse and validate one command; raise ``RealtimeError(bad_request)`` naming the fault.

    The returned dict keeps ``id`` and ``op``; ``channel`` is validated, ``since`` becomes
    a :class:`Position` and ``limit`` an int.
    """
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RealtimeError(ErrorCode.BAD_REQUEST, f"malformed JSON: {exc}") from None
    return validate_command(frame)


def validate_command(frame: Any) -> dict[str, Any]:
    if not isinstance(frame, dict):
        raise RealtimeError(ErrorCode.BAD_REQUEST, "a command must be a JSON object")
    cid = frame.get("id")
    if cid is not None and (not isinstance(cid, (int, str)) or isinstance(cid, bool)):
        raise RealtimeError(ErrorCode.BAD_REQUEST, "id must be an integer or a string")
    op = frame.get("op")
    if op not in OPS:
        raise RealtimeError(ErrorCode.BAD_REQUEST, f"unknown op {op!r}; expected one of {OPS}")
    cmd: dict[str, Any] = {"id": cid, "op": op}
    if op == "ping":
        return cmd
    cmd["channel"] = validate_channel(frame.get("channel"))
    if op in ("subscribe", "history"):
        cmd["since"] = validate_since(frame.get("since"))
    if op == "subscribe":
        cmd["presence"] = bool(frame.get("presence", False))
    elif op == "history":
        cmd["limit"] = validate_limit(frame.get("limit"))
        cmd["key"] = validate_key(frame.get("key"))
        cmd["key_prefix"] = validate_key(frame.get("key_prefix"))
    elif op == "publish":
        if "data_b64" in frame:
            try:
                cmd["payload"] = base64.b64decode(frame["data_b64"], validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise RealtimeError(ErrorCode.BAD_REQUEST, "data_b64 is not valid base64") from None
            cmd["binary"] = True
        elif "data" in frame:
            cmd["payload"] = encode_kept(frame["data"])
            cmd["binary"] = False
        else:
            raise RealtimeError(ErrorCode.BAD_REQUEST, "publish needs data or data_b64")
        cmd["idempotency_key"] = validate_idempotency_key(frame.get("idempotency_key"))
        cmd["key"] = validate_key(frame.get("key"))
    return cmd


# -- cursors --


def encode_cursor(positions: dict[str, Position]) -> str:
    """An opaque, URL-safe cursor holding a position per channel."""
    raw = orjson.dumps({ch: [p.epoch, p.offset] for ch, p in positions.items()})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> dict[str, Position]:
    """The positions of a cursor; ``bad_request`` for anything that is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise RealtimeError(ErrorCode.BAD_REQUEST, "malformed cursor") from None
    if not isinstance(value, dict):
        raise RealtimeError(ErrorCode.BAD_REQUEST, "malformed cursor")
    positions: dict[str, Position] = {}
    for channel, pos in value.items():
        validate_channel(channel)
        if (
            not isinstance(pos, list)
            or len(pos) != 2
            or not isinstance(pos[0], str)
            or type(pos[1]) is not int
            or pos[1] < 0
        ):
            raise RealtimeError(ErrorCode.BAD_REQUEST, "malformed cursor")
        positions[channel] = Position(pos[0], pos[1])
    return positions
