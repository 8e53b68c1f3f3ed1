"""An identity provider that maps tokens to users keeps its users on every transport.

Alice's token is also the server's shared ``IdentityProvider.token``: Jupyter (``/api/me``)
says she is alice, and so must realtime (her sender, her presence, her private channels),
never ``token_user``. Bob, with his own token, is refused alice's private channel. Real
server, ordinary clients (websockets, httpx, httpx-sse).
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from jupyter_server.auth import IdentityProvider, User
from websockets.asyncio.client import ClientConnection, connect

USERS = {"alice-token": "alice", "bob-token": "bob"}
PRIVATE = "private:alice:notes"


class TokenUsers(IdentityProvider):
    """``Authorization: token alice-token`` is alice; Jupyter's own ``_get_user`` does the rest."""

    async def get_user_token(self, handler: Any) -> User | None:
        name = USERS.get(self.get_token(handler) or "")
        return User(username=name, name=name.title()) if name else None


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_realtime": True},
            "identity_provider_class": TokenUsers,
        },
        "IdentityProvider": {"token": "alice-token"},  # alice's token is the shared one
        "RealtimeApp": {"token_user": "root", "private_channels": {"private:alice:*": ["alice"]}},
    }


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"token {user}-token"}


async def me(server: Any, user: str) -> str:
    async with httpx.AsyncClient() as http:
        reply = await http.get(server.http("api/me"), headers=auth(user))
    assert reply.status_code == 200, reply.text
    return str(reply.json()["identity"]["username"])


async def call(sock: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await sock.send(orjson.dumps(frame).decode())
    while True:
        msg = orjson.loads(await asyncio.wait_for(sock.recv(), 10))
        if msg.get("id") == frame.get("id"):
            return dict(msg)


async def publish(server: Any, user: str, channel: str, data: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            server.http("realtime/api/channels", channel), json=data, headers=auth(user)
        )


async def test_websocket_is_the_user_jupyter_names(server: Any) -> None:
    assert await me(server, "alice") == "alice"
    url = server.ws("realtime/ws")
    async with connect(url, additional_headers=auth("alice")) as alice, connect(
        url, additional_headers=auth("bob")
    ) as bob:
        sub = await call(alice, {"id": 1, "op": "subscribe", "channel": PRIVATE, "presence": True})
        assert "result" in sub, sub
        refused = await call(bob, {"id": 1, "op": "subscribe", "channel": PRIVATE})
        assert refused["error"]["code"] == "forbidden"
        assert "result" in await call(alice, {"id": 2, "op": "publish", "channel": PRIVATE,
                                              "data": "mine"})  # fmt: skip
        clients = (await call(alice, {"id": 3, "op": "presence", "channel": PRIVATE}))["result"]
        assert [c["user"] for c in clients["clients"]] == ["alice"]
        await call(bob, {"id": 2, "op": "subscribe", "channel": "open", "presence": True})
        await call(alice, {"id": 4, "op": "publish", "channel": "open", "data": 1})
        while "offset" not in (frame := orjson.loads(await asyncio.wait_for(bob.recv(), 10))):
            pass
        assert frame["sender"] == "alice"
        assert await call(bob, {"id": 3, "op": "ping"}) == {"id": 3, "result": {}}


async def test_rest_publishes_as_the_user_jupyter_names(server: Any) -> None:
    assert (await publish(server, "alice", PRIVATE, 1)).status_code == 200
    refused = await publish(server, "bob", PRIVATE, 2)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    async with httpx.AsyncClient() as http:
        history = await http.get(server.http("realtime/api/channels", PRIVATE, "history"),
                                 headers=auth("alice"))  # fmt: skip
    assert [p["sender"] for p in history.json()["publications"]] == ["alice"]


async def test_sse_subscribes_the_user_jupyter_names(server: Any) -> None:
    url = server.http("realtime/sse") + f"?channel={PRIVATE}"
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(url, headers=auth("bob"))).status_code == 403
        async with aconnect_sse(http, "GET", url, headers=auth("alice")) as source:
            assert source.response.status_code == 200
            events = source.aiter_sse()
            with anyio.fail_after(10):
                async for event in events:
                    if event.data and orjson.loads(event.data).get("event") == "subscribed":
                        break
                assert (await publish(server, "alice", PRIVATE, "via sse")).status_code == 200
                async for event in events:
                    if event.data and "offset" in (frame := orjson.loads(event.data)):
                        break
    assert (frame["data"], frame["sender"]) == ("via sse", await me(server, "alice"))


async def test_stream_and_poll_subscribe_the_user_jupyter_names(server: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for path in ("realtime/stream", "realtime/poll"):
            refused = await http.get(server.http(path) + f"?channel={PRIVATE}",
                                     headers=auth("bob"))  # fmt: skip
            assert refused.status_code == 403, path
        url = server.http("realtime/stream") + f"?channel={PRIVATE}"
        async with http.stream("GET", url, headers=auth("alice")) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            with anyio.fail_after(10):
                async for line in lines:
                    if line.strip() and orjson.loads(line).get("event") == "subscribed":
                        break
                assert (await publish(server, "alice", PRIVATE, "via stream")).status_code == 200
                async for line in lines:
                    if line.strip() and "offset" in (frame := orjson.loads(line)):
                        break
        assert (frame["data"], frame["sender"]) == ("via stream", "alice")

        first = await http.get(server.http("realtime/poll") + f"?channel={PRIVATE}",
                               headers=auth("alice"))  # fmt: skip
        assert first.status_code == 200, first.text
        cursor = first.json()["cursor"]
        assert (await publish(server, "alice", PRIVATE, "via poll")).status_code == 200
        polled = await http.get(
            server.http("realtime/poll") + f"?channel={PRIVATE}&cursor={cursor}&timeout=5",
            headers=auth("alice"),
        )
    messages = [m for m in polled.json()["messages"] if "offset" in m]
    assert [(m["data"], m["sender"]) for m in messages] == [("via poll", "alice")]
