"""Property tests of the parsers that face the network: commands, binary frames, cursors.

Whatever arrives, a parser returns a well-formed value or raises ``RealtimeError`` with
``bad_request``; nothing else escapes. Valid input round-trips.
"""

from __future__ import annotations

import string
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_realtime.errors import ErrorCode, RealtimeError
from jupyter_realtime.protocol import (
    CHANNEL_RE,
    OPS,
    Position,
    decode_command,
    decode_cursor,
    encode_cursor,
    pack_binary,
    unpack_binary,
    validate_command,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

channels = st.text(string.ascii_letters + string.digits + "_-.:@", min_size=1, max_size=200)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
positions = st.builds(Position, st.text(max_size=20), st.integers(min_value=0, max_value=2**53))
# command-shaped dicts: the right keys with values of any type, so validation is exercised
command_like = st.fixed_dictionaries(
    {"op": st.sampled_from(OPS) | json_values},
    optional={
        "id": json_values,
        "channel": channels | json_values,
        "since": st.fixed_dictionaries({"epoch": json_values, "offset": json_values}) | json_values,
        "limit": json_values,
        "presence": json_values,
        "data": json_values,
        "data_b64": st.text(max_size=20) | json_values,
    },
)


def only_bad_request(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except RealtimeError as exc:
        assert exc.code is ErrorCode.BAD_REQUEST, exc
        assert exc.message
        return None


def check_command(cmd: dict[str, Any] | None) -> None:
    if cmd is None:
        return
    assert cmd["op"] in OPS
    if cmd["op"] != "ping":
        assert CHANNEL_RE.fullmatch(cmd["channel"])
    if cmd["op"] == "publish":
        assert isinstance(cmd["payload"], bytes) and isinstance(cmd["binary"], bool)


@SETTINGS
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_decode_command_takes_any_bytes_or_text(raw: bytes | str) -> None:
    check_command(only_bad_request(decode_command, raw))


@SETTINGS
@given(json_values | command_like)
def test_validate_command_takes_any_json_value(value: Any) -> None:
    check_command(only_bad_request(validate_command, value))
    check_command(only_bad_request(decode_command, orjson.dumps(value)))


@SETTINGS
@given(command_like, st.data())
def test_mutated_command_text_is_answered_or_refused(value: dict[str, Any], data: Any) -> None:
    raw = bytearray(orjson.dumps(value))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    check_command(only_bad_request(decode_command, bytes(raw)))


@SETTINGS
@given(channels, json_values, st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10))
def test_valid_publish_round_trips(channel: str, data: Any, cid: Any) -> None:
    frame: dict[str, Any] = {"op": "publish", "channel": channel, "data": data}
    if cid is not None:
        frame["id"] = cid
    cmd = decode_command(orjson.dumps(frame))
    assert cmd["channel"] == channel and cmd["id"] == cid and cmd["binary"] is False
    assert orjson.loads(cmd["payload"]) == orjson.loads(orjson.dumps(data))


@SETTINGS
@given(st.binary(max_size=300))
def test_unpack_binary_takes_any_bytes(frame: bytes) -> None:
    result = only_bad_request(unpack_binary, frame)
    if result is not None:
        header, data = result
        assert isinstance(header, dict) and isinstance(data, bytes)


@SETTINGS
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5), st.binary(max_size=300))
def test_pack_unpack_binary_round_trips(header: dict[str, Any], data: bytes) -> None:
    got_header, got_data = unpack_binary(pack_binary(header, data))
    assert got_header == orjson.loads(orjson.dumps(header)) and got_data == data


@SETTINGS
@given(st.binary(max_size=300), st.integers(0, 2**32 - 1))
def test_binary_frames_with_any_declared_length(rest: bytes, size: int) -> None:
    frame = size.to_bytes(4, "big") + rest
    only_bad_request(unpack_binary, frame)


@SETTINGS
@given(st.text(max_size=300) | st.text(string.ascii_letters + string.digits + "-_=", max_size=300))
def test_decode_cursor_takes_any_text(cursor: str) -> None:
    result = only_bad_request(decode_cursor, cursor)
    if result is not None:
        for channel, pos in result.items():
            assert CHANNEL_RE.fullmatch(channel)
            assert isinstance(pos.epoch, str) and type(pos.offset) is int and pos.offset >= 0


@SETTINGS
@given(json_values)
def test_decode_cursor_takes_any_encoded_json(value: Any) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()
    only_bad_request(decode_cursor, cursor)


@SETTINGS
@given(st.dictionaries(channels, positions, max_size=10))
def test_cursor_round_trips(value: dict[str, Position]) -> None:
    cursor = encode_cursor(value)
    assert set(cursor) <= set(string.ascii_letters + string.digits + "-_")
    assert decode_cursor(cursor) == value


@pytest.mark.parametrize(
    "raw",
    ["[" * 100_000, '{"op": "ping", "id": ' + "9" * 400 + "}", '{"op":"publish","channel":"a"}'],
)
def test_pathological_inputs(raw: str) -> None:
    assert only_bad_request(decode_command, raw) is None
