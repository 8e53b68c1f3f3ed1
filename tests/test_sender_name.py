"""``sender_name``: the display name the server stamps beside ``sender``, on every transport.

Two users at once (a token is a user, as in ``test_permissions.py``), one hostile: bob puts
``sender``/``sender_name`` of his own in his publish commands (text and binary WebSocket
frames) and in his data; alice publishes at the same time. Alice reads over WebSocket, SSE,
XHR streaming and long polling: each publication carries the verified ``sender`` and
``sender_name`` of who sent it, the name her presence shows too, and history says the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from jupyter_server.auth import IdentityProvider, User
from websockets.asyncio.client import connect

from jupyter_realtime.protocol import pack_binary, unpack_binary
from jupyter_realtime.session import MAX_NAME, Identity, clip_name

NAMES = {"alice": "Alice Liddell", "bob": "Bob <i>Builder</i>"}
FORGED = {"sender": "teacher", "sender_name": "teacher"}


class TokenUsers(IdentityProvider):
    """``Authorization: token alice-token`` is alice, with her display name."""

    async def get_user(self, handler: Any) -> User | None:
        token = self.get_token(handler) or ""
        name = token.removesuffix("-token")
        if name not in NAMES:
            return None
        handler._token_authenticated = True  # token requests need no XSRF cookie
        return User(username=name, name=name, display_name=NAMES[name])


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_realtime": True},
            "identity_provider_class": TokenUsers,
        },
        "IdentityProvider": {"token": "unused-shared-token"},
    }


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"token {user}-token"}


async def ws_frames(server: Any, channel: str, ready: asyncio.Event) -> AsyncIterator[Any]:
    async with connect(server.ws("realtime/ws"), additional_headers=auth("alice")) as ws:
        sub = {"id": 1, "op": "subscribe", "channel": channel, "presence": True}
        await ws.send(orjson.dumps(sub).decode())
        while True:
            msg = await ws.recv()
            if isinstance(msg, bytes):
                yield unpack_binary(msg)[0]
                continue
            frame = orjson.loads(msg)
            if frame.get("id") == 1:
                ready.set()
            yield frame


async def sse_frames(server: Any, channel: str, ready: asyncio.Event) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(headers=auth("alice"), timeout=20) as http:
        url = server.http("realtime/sse") + f"?channel={channel}"
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
            ready.set()  # subscribed before the first byte
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    yield orjson.loads(line[5:])


async def stream_frames(server: Any, channel: str, ready: asyncio.Event) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(headers=auth("alice"), timeout=20) as http:
        url = server.http("realtime/stream") + f"?channel={channel}"
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
            ready.set()
            async for line in response.aiter_lines():
                if line.strip():
                    yield orjson.loads(line)


async def poll_frames(server: Any, channel: str, ready: asyncio.Event) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(headers=auth("alice"), timeout=20) as http:
        url = server.http("realtime/poll") + f"?channel={channel}"
        cursor = (await http.get(url)).json()["cursor"]
        ready.set()
        while True:
            body = (await http.get(url + f"&cursor={cursor}&timeout=10")).json()
            cursor = body["cursor"]
            for frame in body["messages"]:
                yield frame


READERS = {"ws": ws_frames, "sse": sse_frames, "stream": stream_frames, "poll": poll_frames}


async def collect(frames: AsyncIterator[Any], n: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async for frame in frames:
        if "offset" in frame and "channel" in frame and "event" not in frame:
            got.append(frame)
            if len(got) == n:
                return got
    return got


async def bob_publishes(server: Any, channel: str) -> list[dict[str, Any]]:
    """Text and binary publish commands carrying forged names; the replies."""
    replies = []
    async with connect(server.ws("realtime/ws"), additional_headers=auth("bob")) as ws:
        text = {"id": 1, "op": "publish", "channel": channel, "data": {"text": "hi", **FORGED,
                "name": "teacher"}, **FORGED}
        await ws.send(orjson.dumps(text).decode())
        await ws.send(pack_binary({"id": 2, "op": "publish", "channel": channel, **FORGED},
                                  b"\x00\x01"))
        while len(replies) < 2:
            msg = await ws.recv()
            frame = orjson.loads(msg) if isinstance(msg, str) else {}
            if frame.get("id") in (1, 2):
                replies.append(frame)
    return replies


@pytest.mark.parametrize("transport", sorted(READERS))
async def test_every_transport_carries_the_verified_sender_name(
    server: Any, transport: str
) -> None:
    channel = f"names-{transport}"
    ready = asyncio.Event()
    reading = asyncio.ensure_future(collect(READERS[transport](server, channel, ready), 4))
    await asyncio.wait_for(ready.wait(), 10)
    async with httpx.AsyncClient(timeout=10) as http:
        alice_rest = http.post(server.http("realtime/api/channels", channel),
                               json={"text": "me", **FORGED}, headers=auth("alice"))
        bob_rest = http.post(server.http("realtime/api/channels", channel),
                             json={"text": "also me", "name": "alice"}, headers=auth("bob"))
        replies, a, b = await asyncio.gather(bob_publishes(server, channel), alice_rest, bob_rest)
        assert a.status_code == b.status_code == 200
        assert all("result" in r for r in replies), replies  # extra fields are ignored
        frames = await asyncio.wait_for(reading, 20)
        history = (await http.get(server.http("realtime/api/channels", channel, "history"),
                                  headers=auth("alice"))).json()["publications"]
    stamped = sorted((f["sender"], f["sender_name"]) for f in frames)
    assert stamped == [("alice", NAMES["alice"])] + [("bob", NAMES["bob"])] * 3
    assert sorted((p["sender"], p["sender_name"]) for p in history) == stamped


async def test_presence_shows_the_name_publications_carry(server: Any) -> None:
    ready = asyncio.Event()
    frames = ws_frames(server, "names-presence", ready)
    reading = asyncio.ensure_future(collect(frames, 1))
    await asyncio.wait_for(ready.wait(), 10)
    async with httpx.AsyncClient(headers=auth("alice"), timeout=10) as http:
        await http.post(server.http("realtime/api/channels/names-presence"), json=1)
        (pub,) = await asyncio.wait_for(reading, 10)
        clients = (await http.get(
            server.http("realtime/api/channels/names-presence/presence"))).json()["clients"]
    assert [(c["user"], c["name"]) for c in clients] == [("alice", pub["sender_name"])]
    assert pub["sender_name"] == NAMES["alice"]


def test_a_display_name_is_one_bounded_line() -> None:
    assert clip_name(" Ada\nLovelace\x00 ") == "Ada Lovelace"
    assert len(clip_name("x" * 1000)) == MAX_NAME
    assert Identity("u1", name="", display_name="").sender_name == "u1"
    assert Identity("u1", name="Ann", display_name="").sender_name == "Ann"
    kernel = Identity("ada", display_name="ada's kernel (a.ipynb)", kernel="k1")
    assert (kernel.sender, kernel.sender_name) == ("ada/kernel/k1", "ada's kernel (a.ipynb)")
    assert kernel.presence_info("c")["name"] == kernel.sender_name
