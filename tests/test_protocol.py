"""Unit tests of the wire protocol: validation, cursors, binary frames (no server)."""

from __future__ import annotations

import pytest

from jupyter_realtime.errors import ErrorCode, RealtimeError
from jupyter_realtime.protocol import (
    Position,
    Publication,
    decode_command,
    decode_cursor,
    encode_cursor,
    pack_binary,
    unpack_binary,
    validate_channel,
)


@pytest.mark.parametrize("name", ["a", "train:metrics", "user@host", "A-Z_0.9", "x" * 200])
def test_valid_channel_names(name: str) -> None:
    assert validate_channel(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "x" * 201, "sp ace", "é", None, 3, "a\nb"])
def test_bad_channel_names(name: object) -> None:
    with pytest.raises(RealtimeError) as info:
        validate_channel(name)
    assert info.value.code is ErrorCode.BAD_REQUEST


def test_decode_subscribe_with_since() -> None:
    cmd = decode_command(b'{"id": 7, "op": "subscribe", "channel": "c", "since": {"epoch": "e", "offset": 3}}')
    assert cmd == {"id": 7, "op": "subscribe", "channel": "c", "since": Position("e", 3), "presence": False}


def test_decode_publish_keeps_compact_json_payload() -> None:
    cmd = decode_command('{"op": "publish", "channel": "c", "data": {"a": [1, 2]}}')
    assert cmd["payload"] == b'{"a":[1,2]}'
    assert cmd["binary"] is False


def test_decode_publish_base64() -> None:
    cmd = decode_command('{"op": "publish", "channel": "c", "data_b64": "AAEC"}')
    assert cmd["payload"] == b"\x00\x01\x02"
    assert cmd["binary"] is True


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"op": "dance"}', "unknown op"),
        ('{"op": "subscribe"}', "bad channel name"),
        ('{"op": "publish", "channel": "c"}', "needs data"),
        ('{"op": "publish", "channel": "c", "data_b64": "***"}', "not valid base64"),
        ('{"op": "history", "channel": "c", "limit": 0}', "limit must be"),
        ('{"op": "history", "channel": "c", "since": {"epoch": 1, "offset": 2}}', "since must be"),
        ('{"op": "ping", "id": true}', "id must be"),
    ],
)
def test_bad_commands_name_their_fault(raw: str, fragment: str) -> None:
    with pytest.raises(RealtimeError) as info:
        decode_command(raw)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert fragment in info.value.message


def test_cursor_round_trip() -> None:
    positions = {"a": Position("e1", 5), "b:c@d": Position("e2", 0)}
    cursor = encode_cursor(positions)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor) == positions


@pytest.mark.parametrize("cursor", ["!!", "e30x", "WyJhIl0", "eyJhIjpbMSwyXX0", "eyJhIjpbImUiLC0xXX0"])
def test_malformed_cursors_are_bad_requests(cursor: str) -> None:
    with pytest.raises(RealtimeError) as info:
        decode_cursor(cursor)
    assert info.value.code is ErrorCode.BAD_REQUEST


def test_binary_frame_round_trip() -> None:
    frame = pack_binary({"op": "publish", "channel": "c"}, b"\x00\xffdata")
    assert unpack_binary(frame) == ({"op": "publish", "channel": "c"}, b"\x00\xffdata")


@pytest.mark.parametrize("frame", [b"", b"\x00\x00\x00\x09{}", b"\x00\x00\x00\x02[]", b"\x00\x00\x00\x01{"])
def test_bad_binary_frames(frame: bytes) -> None:
    with pytest.raises(RealtimeError):
        unpack_binary(frame)


def test_publication_is_encoded_once() -> None:
    pub = Publication("c", "e", 1, b'{"x":1}', ts=1.5, sender="alice")
    first = pub.json()
    assert first == b'{"channel":"c","epoch":"e","offset":1,"ts":1.5,"sender":"alice","data":{"x":1}}'
    assert pub.json() is first


def test_binary_publication_text_form_is_base64() -> None:
    pub = Publication("c", "e", 2, b"\x00\x01", binary=True, ts=0.0)
    assert b'"data_b64":"AAE="' in pub.json()
    assert pub.data == b"\x00\x01"
