"""Channel permissions and limits with several Jupyter users, over every transport.

A test identity provider maps tokens to users (and groups); a test authorizer refuses
``write`` on ``realtime`` to one user and everything to another. The server runs with a
personal namespace (``user:NAME``), private channels (``secret:*`` for alice and the
``staff`` group), a publish rate limit and a connection limit per user.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from jupyter_server.auth import Authorizer, IdentityProvider, User
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from jupyter_realtime.protocol import Position, encode_cursor, pack_binary

USERS = {"alice-token": "alice", "bob-token": "bob", "reader-token": "reader",
         "outsider-token": "outsider", "sam-token": "sam"}
RATE_BURST = 20
MAX_CONNECTIONS = 3


class TokenUsers(IdentityProvider):
    """A token is a user: ``Authorization: token alice-token`` (or ``?token=``) is alice."""

    async def get_user(self, handler: Any) -> User | None:
        name = USERS.get(self.get_token(handler) or "")
        if name is None:
            return None
        handler._token_authenticated = True  # token requests need no XSRF cookie
        user = User(username=name)
        user.groups = ["staff"] if name == "sam" else []  # type: ignore[attr-defined]
        return user


class RealtimeAuthorizer(Authorizer):
    """reader may not write to realtime; outsider may not use it at all."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        if resource != "realtime":
            return True
        if user.username == "outsider":
            return False
        return not (user.username == "reader" and action == "write")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_realtime": True},
            "identity_provider_class": TokenUsers,
            "authorizer_class": RealtimeAuthorizer,
        },
        "IdentityProvider": {"token": "unused-shared-token"},
        "RealtimeApp": {
            "personal_namespace": "user",
            "private_channels": {"secret:*": ["alice", "group:staff"]},
            "channel_rules": [{"channels": "lobby", "presence": ["alice"]}],
            "max_publish_rate": 1.0,
            "publish_burst": RATE_BURST,
            "max_connections_per_user": MAX_CONNECTIONS,
        },
    }


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"token {user}-token"}


def ws(server: Any, user: str) -> Any:
    return connect(server.ws("realtime/ws"), additional_headers=auth(user))


async def call(sock: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await sock.send(orjson.dumps(frame).decode())
    while True:
        msg = orjson.loads(await asyncio.wait_for(sock.recv(), 5))
        if msg.get("id") == frame.get("id"):
            return msg


def forbidden(reply: dict[str, Any], action: str, channel: str) -> bool:
    error = reply.get("error") or {}
    return (
        error.get("code") == "forbidden"
        and action in error.get("message", "")
        and repr(channel) in error.get("message", "")
    )


async def test_websocket_private_channel_and_personal_namespace(server: Any) -> None:
    async with ws(server, "alice") as alice, ws(server, "bob") as bob, ws(server, "sam") as sam:
        for i, op in enumerate(("subscribe", "history", "presence")):
            reply = await call(bob, {"id": i, "op": op, "channel": "secret:plans"})
            assert forbidden(reply, op, "secret:plans"), reply
            assert "result" in await call(sam, {"id": i, "op": op, "channel": "secret:plans"})
        bad = await call(bob, {"id": 5, "op": "publish", "channel": "secret:plans", "data": 1})
        assert forbidden(bad, "publish", "secret:plans")
        # resuming from a position is a subscribe too
        resume = {"id": 6, "op": "subscribe", "channel": "secret:plans",
                  "since": {"epoch": "e", "offset": 0}}
        assert forbidden(await call(bob, resume), "subscribe", "secret:plans")

        feed = {"id": 7, "op": "subscribe", "channel": "user:alice:feed"}
        assert "result" in await call(bob, feed)
        hi = {"id": 8, "op": "publish", "channel": "user:alice:feed", "data": "hi"}
        ok = await call(alice, hi)
        assert ok["result"]["offset"] == 1
        pub = orjson.loads(await asyncio.wait_for(bob.recv(), 5))
        assert pub["data"] == "hi" and pub["sender"] == "alice"
        reply = await call(bob, {"id": 9, "op": "publish", "channel": "user:alice:feed", "data": 2})
        assert forbidden(reply, "publish", "user:alice:feed")
        await bob.send(pack_binary({"id": 10, "op": "publish", "channel": "user:alice"}, b"x"))
        reply = orjson.loads(await asyncio.wait_for(bob.recv(), 5))
        assert forbidden(reply, "publish", "user:alice")
        # the connection stays usable after every refusal
        assert await call(bob, {"id": 11, "op": "ping"}) == {"id": 11, "result": {}}


async def test_sse_stream_and_poll_refuse_a_private_channel_even_on_resume(server: Any) -> None:
    cursor = encode_cursor({"secret:plans": Position("e", 0)})
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(server.http("realtime/api/channels/secret:plans"), json=1,
                        headers=auth("alice"))
        urls = [
            server.http("realtime/sse") + "?channel=secret:plans",
            server.http("realtime/sse") + f"?channel=secret:plans&last_event_id={cursor}",
            server.http("realtime/stream") + f"?channel=secret:plans&cursor={cursor}",
            server.http("realtime/poll") + "?channel=secret:plans",
            server.http("realtime/poll") + f"?channel=secret:plans&cursor={cursor}&timeout=1",
        ]
        for url in urls:
            r = await http.get(url, headers=auth("bob"))
            assert r.status_code == 403, url
            assert forbidden(r.json(), "subscribe", "secret:plans")
        r = await http.get(urls[0], headers={**auth("bob"), "Last-Event-ID": cursor})
        assert r.status_code == 403
        allowed = await http.get(urls[4], headers=auth("alice"))
        assert [m["data"] for m in allowed.json()["messages"] if "data" in m] == [1]


async def test_http_session_uplink_and_rest_apply_the_policy(server: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        opened = (await http.get(server.http("realtime/poll") + "?session=1",
                                 headers=auth("bob"))).json()
        uplink = server.http(f"realtime/session/{opened['session']}")
        replies = (await http.post(uplink, headers=auth("bob"), json=[
            {"id": 1, "op": "subscribe", "channel": "secret:x"},
            {"id": 2, "op": "history", "channel": "secret:x"},
            {"id": 3, "op": "publish", "channel": "user:alice", "data": 1},
            {"id": 4, "op": "publish", "channel": "user:bob", "data": 1},
        ])).json()
        assert forbidden(replies[0], "subscribe", "secret:x")
        assert forbidden(replies[1], "history", "secret:x")
        assert forbidden(replies[2], "publish", "user:alice")
        assert replies[3]["result"]["offset"] == 1

        r = await http.post(server.http("realtime/api/channels/user:alice:x"), json=1,
                            headers=auth("bob"))
        assert r.status_code == 403 and forbidden(r.json(), "publish", "user:alice:x")
        await http.post(server.http("realtime/api/channels/secret:y"), json=1,
                        headers=auth("alice"))
        for path, action in (("history", "history"), ("presence", "presence")):
            r = await http.get(server.http(f"realtime/api/channels/secret:y/{path}"),
                               headers=auth("bob"))
            assert r.status_code == 403 and forbidden(r.json(), action, "secret:y")
        listed = (await http.get(server.http("realtime/api/channels"), headers=auth("bob"))).json()
        assert "secret:y" not in [c["channel"] for c in listed["channels"]]
        listed = (await http.get(server.http("realtime/api/channels"),
                                 headers=auth("alice"))).json()
        assert "secret:y" in [c["channel"] for c in listed["channels"]]


async def test_join_and_leave_reach_only_those_who_may_see_presence(server: Any) -> None:
    async with ws(server, "alice") as alice, ws(server, "bob") as bob:
        await call(bob, {"id": 1, "op": "subscribe", "channel": "lobby", "presence": True})
        await call(alice, {"id": 1, "op": "subscribe", "channel": "lobby", "presence": True})
        clients = (await call(alice, {"id": 2, "op": "presence", "channel": "lobby"}))["result"]
        assert sorted(c["user"] for c in clients["clients"]) == ["alice", "bob"]
        reply = await call(bob, {"id": 2, "op": "presence", "channel": "lobby"})
        assert forbidden(reply, "presence", "lobby")
        await call(alice, {"id": 3, "op": "publish", "channel": "lobby", "data": "x"})
        # bob's next frame is the publication: alice's join was not sent to him
        frame = orjson.loads(await asyncio.wait_for(bob.recv(), 5))
        assert frame.get("data") == "x", frame


async def test_jupyters_authorizer_is_applied_on_every_endpoint(server: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(server.http("realtime/api/channels/news"), json=1,
                            headers=auth("reader"))
        assert r.status_code == 403
        r = await http.get(server.http("realtime/api/channels/news/history"),
                           headers=auth("reader"))
        assert r.status_code == 200
        for path in ("realtime/api/channels", "realtime/poll?channel=news",
                     "realtime/sse?channel=news"):
            r = await http.get(server.http(path), headers=auth("outsider"))
            assert r.status_code == 403, path
            assert r.json()["error"]["code"] == "forbidden"
    async with ws(server, "reader") as reader:
        assert "result" in await call(reader, {"id": 1, "op": "subscribe", "channel": "news"})
        reply = await call(reader, {"id": 2, "op": "publish", "channel": "news", "data": 1})
        assert forbidden(reply, "publish", "news")
    async with ws(server, "outsider") as outsider:  # refused with a code a browser can read
        with pytest.raises(ConnectionClosed) as info:
            await outsider.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4500


async def test_rate_limit_replies_and_the_connection_stays(server: Any) -> None:
    async with ws(server, "bob") as bob, ws(server, "alice") as alice:
        for i in range(RATE_BURST + 5):
            await bob.send(orjson.dumps(
                {"id": i, "op": "publish", "channel": "flood", "data": i}).decode())
        replies = [orjson.loads(await asyncio.wait_for(bob.recv(), 5))
                   for _ in range(RATE_BURST + 5)]
        codes = [r.get("error", {}).get("code", "ok") for r in replies]
        assert codes.count("ok") in (RATE_BURST, RATE_BURST + 1)
        assert codes[-1] == "rate_limited"
        assert "publications a second" in replies[-1]["error"]["message"]
        assert await call(bob, {"id": "p", "op": "ping"}) == {"id": "p", "result": {}}
        # bob's limit is not alice's
        ok = await call(alice, {"id": 1, "op": "publish", "channel": "flood", "data": "a"})
        assert "result" in ok
    async with httpx.AsyncClient(timeout=10) as http:
        statuses = [
            (await http.post(server.http("realtime/api/channels/rest-flood"), json=i,
                             headers=auth("sam"))).status_code
            for i in range(RATE_BURST + 3)
        ]
        assert statuses[:RATE_BURST] == [200] * RATE_BURST and statuses[-1] == 429


async def test_connection_limit_per_user(server: Any) -> None:
    socks = [await ws(server, "bob") for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in socks:
            assert "result" in await call(sock, {"id": 1, "op": "ping"})
        extra = await ws(server, "bob")
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(extra.recv(), 5)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4004, "too_many_connections")
        async with httpx.AsyncClient(timeout=10) as http:
            for path in ("realtime/sse?channel=a", "realtime/stream?channel=a",
                         "realtime/poll?session=1"):
                r = await http.get(server.http(path), headers=auth("bob"))
                assert r.status_code == 429, path
                assert r.json()["error"]["code"] == "rate_limited"
        async with ws(server, "alice") as alice:  # another user is not affected
            assert "result" in await call(alice, {"id": 1, "op": "ping"})
    finally:
        for sock in socks:
            await sock.close()
    await asyncio.sleep(0.2)
    async with ws(server, "bob") as again:  # closed connections no longer count
        assert "result" in await call(again, {"id": 1, "op": "ping"})


async def test_keyed_values_obey_the_channel_policy(server: Any) -> None:
    """alice and sam write one key of a private channel at once; bob, outside it, can
    neither read its latest (command or REST) nor overwrite it, and a flood of bad keys
    from him gets bad_key without touching the channel."""
    async with ws(server, "alice") as alice, ws(server, "sam") as sam, ws(server, "bob") as bob:
        async def write(sock: ClientConnection, who: str, base: int) -> list[int]:
            offsets = []
            for i in range(5):
                frame = {"id": base + i, "op": "publish", "channel": "secret:state",
                         "data": who, "key": "plan"}  # fmt: skip
                offsets.append((await call(sock, frame))["result"]["offset"])
            return offsets

        ours = await asyncio.gather(write(alice, "alice", 0), write(sam, "sam", 100))
        newest = max(max(o) for o in ours)
        latest = await call(sam, {"id": 200, "op": "history", "channel": "secret:state",
                                  "key": "plan"})  # fmt: skip
        (kept,) = latest["result"]["publications"]
        assert kept["offset"] == newest == 10 and kept["key"] == "plan"
        assert kept["data"] == ("alice" if newest in ours[0] else "sam")
        read = await call(bob, {"id": 1, "op": "history", "channel": "secret:state",
                                "key": "plan"})  # fmt: skip
        assert forbidden(read, "history", "secret:state")
        overwrite = await call(bob, {"id": 2, "op": "publish", "channel": "secret:state",
                                     "data": "bob", "key": "plan"})  # fmt: skip
        assert forbidden(overwrite, "publish", "secret:state")
        for i in range(3):  # fewer than the bad frames that would close the connection
            bad = await call(bob, {"id": 10 + i, "op": "publish", "channel": "user:bob:x",
                                   "data": 1, "key": "bad key"})  # fmt: skip
            assert bad["error"]["code"] == "bad_key"
        assert "result" in await call(bob, {"id": 20, "op": "ping"})
    async with httpx.AsyncClient(timeout=10) as http:
        url = server.http("realtime/api/channels/secret:state/history") + "?key=plan&limit=1"
        assert (await http.get(url, headers=auth("bob"))).status_code == 403
        mine = await http.get(url, headers=auth("alice"))
        assert mine.json()["publications"][0]["offset"] == 10
