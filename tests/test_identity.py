"""Who sent it: the server stamps a stable sender on every publication.

Cookie-less requests with the server's token are ``RealtimeApp.token_user``; a kernel the
server started is that user plus the kernel (proved by its kernel tag); a browser keeps the
user of its login cookie. Real server, real kernel, ordinary clients (httpx, websockets).
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import httpx
import orjson
import pytest
import websockets
from test_client_kernel import run, started_kernel
from traitlets import TraitError

from jupyter_realtime import kernel_tag

USER = "ada"


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"token_user": USER}


async def publish(server: Any, channel: str, data: Any, **headers: str) -> None:
    """One cookie-less REST publication (a new client each time keeps no cookie)."""
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            server.http("realtime/api/channels", channel),
            content=orjson.dumps(data),
            headers={**server.headers, **headers},
        )
    assert reply.status_code == 200, reply.text


async def command(ws: Any, cmd_id: int, **cmd: Any) -> dict[str, Any]:
    """Send a command over the WebSocket; its result (events in between are skipped)."""
    await ws.send(json.dumps({"id": cmd_id, **cmd}))
    while (frame := json.loads(await ws.recv())).get("id") != cmd_id:
        pass
    assert "result" in frame, frame
    return dict(frame["result"])


async def senders(server: Any, channel: str, field: str = "sender") -> list[str]:
    async with httpx.AsyncClient() as http:
        reply = await http.get(
            server.http("realtime/api/channels", channel, "history"), headers=server.headers
        )
    assert reply.status_code == 200, reply.text
    return [p[field] for p in reply.json()["publications"]]


async def test_token_requests_without_a_cookie_share_one_sender(server: Any) -> None:
    await publish(server, "who-token", 1)
    await publish(server, "who-token", 2)
    url = server.ws("realtime/ws")
    async with websockets.connect(url, additional_headers=server.headers) as ws:
        await command(ws, 1, op="subscribe", channel="who-token", presence=True)
        await command(ws, 2, op="publish", channel="who-token", data=3)
        clients = (await command(ws, 3, op="presence", channel="who-token"))["clients"]
    assert await senders(server, "who-token") == [USER, USER, USER]
    (client,) = clients
    assert (client["user"], client["name"]) == (USER, USER)


async def test_a_browser_keeps_the_user_of_its_login_cookie(server: Any) -> None:
    async with httpx.AsyncClient() as browser:
        # the first request with ?token= logs in: Jupyter sets the login cookie
        reply = await browser.get(server.http("api/me"), params={"token": server.token})
        assert reply.status_code == 200
        me = reply.json()["identity"]["username"]
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    assert cookie and me != USER
    for i in range(2):  # then two connections with the cookie alone, as a page makes them
        url = server.ws("realtime/ws")
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
            await command(ws, 1, op="publish", channel="who-browser", data=i)
    assert await senders(server, "who-browser") == [me, me]


async def test_a_kernel_publishes_as_the_user_and_its_kernel(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        (kernel_id,) = jp_serverapp.kernel_manager.list_kernel_ids()
        out = await run(
            kernel,
            """
            import jupyter_realtime as rt
            from jupyter_realtime.client import AsyncClient
            rt.channel("who-kernel").publish({"from": "kernel"})  # the sync facade
            async with AsyncClient() as client:  # and the async client
                await client.channel("who-kernel").publish("async")
            print(rt.channel("who-kernel").history(limit=2)[0].sender)
            """,
        )
    expected = f"{USER}/kernel/{kernel_id}"
    assert out.strip() == expected
    assert await senders(server, "who-kernel") == [expected, expected]
    # no session (started through api/kernels alone): named by the start of its id
    name = f"{USER}'s kernel ({kernel_id[:8]})"
    assert await senders(server, "who-kernel", "sender_name") == [name, name]


async def test_a_notebooks_kernel_is_named_after_its_user_and_notebook(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    body = {"path": "work/analysis.ipynb", "type": "notebook", "name": "analysis.ipynb",
            "kernel": {"name": "python3"}}
    reply = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
    model = json.loads(reply.body)
    kernel_id = model["kernel"]["id"]
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        out = await run(
            client,
            """
            import jupyter_realtime as rt
            rt.channel("who-notebook").publish(1)
            print(rt.channel("who-notebook").history(limit=1)[0].sender_name)
            """,
        )
    finally:
        client.stop_channels()
        await jp_fetch("api", "sessions", model["id"], method="DELETE")
    name = f"{USER}'s kernel (analysis.ipynb)"
    assert out.strip() == name
    assert await senders(server, "who-notebook", "sender_name") == [name]
    assert await senders(server, "who-notebook") == [f"{USER}/kernel/{kernel_id}"]


async def test_a_kernel_tag_cannot_be_forged(server: Any, jp_fetch: Any, jp_serverapp: Any) -> None:
    async with started_kernel(jp_fetch, jp_serverapp):
        (kernel_id,) = jp_serverapp.kernel_manager.list_kernel_ids()
        key = jp_serverapp.kernel_manager.get_kernel(kernel_id).session.key
        good = kernel_tag.make(key, kernel_id, server.token)
        forged = [
            kernel_tag.make(b"not-the-key", kernel_id, server.token),  # guessed key
            kernel_tag.make(key, kernel_id, "another-token"),  # a tag meant for another server
            good[:-2] + ("00" if not good.endswith("00") else "11"),  # tampered signature
            f"{kernel_id}",  # no signature
            "not-a-kernel " + good.split(" ")[1],  # an unknown kernel
        ]
        for value in forged:
            await publish(server, "who-forged", value, **{kernel_tag.HEADER: value})
        await publish(server, "who-forged", "good", **{kernel_tag.HEADER: good})
    assert await senders(server, "who-forged") == [USER] * len(forged) + [
        f"{USER}/kernel/{kernel_id}"
    ]


def test_the_token_user_defaults_to_the_hub_user_or_the_login_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jupyter_realtime.app import RealtimeApp

    monkeypatch.setenv("JUPYTERHUB_USER", "grace")
    assert RealtimeApp().token_user == "grace"
    monkeypatch.delenv("JUPYTERHUB_USER")
    assert RealtimeApp().token_user == getpass.getuser()
    with pytest.raises(TraitError):
        RealtimeApp(token_user=" ")


async def test_a_client_keeping_cookies_stays_the_token_user(server: Any) -> None:
    # httpx keeps cookies: the realtime endpoints give a token-only request no login cookie,
    # so its second request is the same user (and may use the HTTP session it opened)
    async with httpx.AsyncClient(headers=server.headers, timeout=10) as http:
        opened = (await http.get(server.http("realtime/poll"), params={"session": "1"})).json()
        uplink = server.http("realtime/session", opened["session"])
        reply = await http.post(uplink, json={"id": 1, "op": "publish", "channel": "who-jar",
                                              "data": 1})
        assert reply.json() == {"id": 1, "result": reply.json()["result"]}, reply.text
        await http.post(server.http("realtime/api/channels", "who-jar"), content=b"2")
        assert not [v for k, v in http.cookies.items() if k.startswith("username") and v]
    assert await senders(server, "who-jar") == [USER, USER]
