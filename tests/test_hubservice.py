"""JupyterHub's realtime service against a real JupyterHub: who may do what, as whom.

One hub for the module (``hub_fixtures.py``): DummyAuthenticator, SimpleLocalProcessSpawner,
configurable-http-proxy, and ``jupyter realtime serve`` with the memory broker and the
classroom rules of docs/jupyterhub.md. Every client talks to ``/services/realtime/``
through the hub's proxy with a user's own hub API token, as a kernel or script does.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from hub_fixtures import RealtimeHub, start_hub

TRANSPORTS = ("ws", "sse", "stream", "poll")

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealtimeHub]:
    running = start_hub(tmp_path_factory.mktemp("hub"))
    try:
        yield running
    finally:
        running.stop()


def auth(hub: RealtimeHub, user: str) -> dict[str, str]:
    return {"Authorization": f"token {hub.token(user)}"}


def forbidden(reply: dict[str, Any], action: str, channel: str) -> bool:
    error = reply.get("error") or {}
    message = error.get("message", "")
    return error.get("code") == "forbidden" and action in message and repr(channel) in message


class Connection:
    """One user's connection to the service on a transport: commands up (the WebSocket, or
    an HTTP session's uplink), frames down (a queue fed by the stream, or polls)."""

    def __init__(self, hub: RealtimeHub, user: str, transport: str) -> None:
        self.hub, self.user, self.transport = hub, user, transport
        self.headers = auth(hub, user)
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.http = httpx.AsyncClient(headers=self.headers, timeout=30)
        self.session = ""
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None

    def url(self, path: str) -> str:
        return f"{self.hub.service}realtime/{path}"

    async def open(self) -> None:
        if self.transport == "ws":
            ws_url = "ws" + self.url("ws")[4:]
            self.ws = await websockets.connect(ws_url, additional_headers=self.headers)
            self.reader = asyncio.create_task(self._read_ws())
        elif self.transport == "poll":
            opened = (await self.http.get(self.url("poll"), params={"session": "1"})).json()
            self.session = opened["session"]
        else:
            started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.reader = asyncio.create_task(self._read_stream(started))
            await asyncio.wait_for(started, 20)

    async def _read_ws(self) -> None:
        async for message in self.ws:
            await self.frames.put(orjson.loads(message))

    async def _read_stream(self, started: asyncio.Future[None]) -> None:
        params = {"session": "1"}
        async with self.http.stream("GET", self.url(self.transport), params=params) as reply:
            assert reply.status_code == 200, await reply.aread()
            async for line in reply.aiter_lines():
                text = line[5:].strip() if self.transport == "sse" else line.strip()
                if self.transport == "sse" and not line.startswith("data:"):
                    continue
                if not text:
                    continue
                frame = orjson.loads(text)
                if frame.get("event") == "session":
                    self.session = frame["session"]
                    started.set_result(None)
                else:
                    await self.frames.put(frame)

    async def command(self, **cmd: Any) -> dict[str, Any]:
        cmd = {"id": int(time.monotonic() * 1e6), **cmd}
        if self.ws is None:
            reply = await self.http.post(self.url(f"session/{self.session}"), json=cmd)
            return dict(reply.json())
        await self.ws.send(json.dumps(cmd))
        while True:  # a WebSocket's replies travel with its publications
            frame = await asyncio.wait_for(self.frames.get(), 20)
            if frame.get("id") == cmd["id"]:
                return frame
            await self.frames.put(frame)

    async def publication(self, channel: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.transport == "poll" and self.frames.empty():
                polled = await self.http.get(
                    self.url("poll"), params={"session": self.session, "timeout": "5"}
                )
                for frame in polled.json()["messages"]:
                    await self.frames.put(frame)
                continue
            try:
                frame = await asyncio.wait_for(self.frames.get(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            is_event = "event" in frame or "id" in frame
            if frame.get("channel") == channel and "offset" in frame and not is_event:
                return frame
        raise AssertionError(f"{self.user} got no publication of {channel} over {self.transport}")

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        await self.http.aclose()


@asynccontextmanager
async def connected(hub: RealtimeHub, user: str, transport: str) -> AsyncIterator[Connection]:
    conn = Connection(hub, user, transport)
    await conn.open()
    try:
        yield conn
    finally:
        await conn.close()


async def rest_publish(hub: RealtimeHub, user: str, channel: str, data: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{hub.service}realtime/api/channels/{channel}",
            content=orjson.dumps(data),
            headers={**auth(hub, user), "Content-Type": "application/json"},
        )


async def history(hub: RealtimeHub, user: str, channel: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.get(
            f"{hub.service}realtime/api/channels/{channel}/history", headers=auth(hub, user)
        )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["publications"])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_teacher_announcement_reaches_two_students_with_the_teacher_as_sender(
    hub: RealtimeHub, transport: str
) -> None:
    channel = f"class:{transport}"
    async with connected(hub, "alice", transport) as alice, connected(hub, "bob", "ws") as bob:
        for student in (alice, bob):
            reply = await student.command(op="subscribe", channel=channel)
            assert "result" in reply, reply
        # a student's attempt, with a sender of her choosing in the data, is refused
        refused = await alice.command(
            op="publish", channel=channel, data={"sender": "teacher", "text": "no homework"}
        )
        assert forbidden(refused, "publish", channel), refused
        async with connected(hub, "teacher", transport) as teacher:
            sent = await teacher.command(op="publish", channel=channel, data="quiz at 10")
            assert sent["result"]["offset"] == 1, sent
        for student in (alice, bob):
            pub = await student.publication(channel)
            assert (pub["sender"], pub["data"], pub["offset"]) == ("teacher", "quiz at 10", 1)
        # the connection keeps serving after the refusal: alice answers where she may
        answer = await alice.command(op="publish", channel=f"answers:{transport}", data="B")
        assert answer["result"]["offset"] == 1, answer
    assert [p["sender"] for p in await history(hub, "teacher", f"answers:{transport}")] == [
        "alice"
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_student_cannot_read_another_students_private_channel(
    hub: RealtimeHub, transport: str
) -> None:
    channel = "dm:bob-teacher"
    reply = await rest_publish(hub, "bob", channel, f"help ({transport})")
    assert reply.status_code == 200, reply.text
    async with connected(hub, "alice", transport) as alice:
        for op in ("subscribe", "history", "presence"):
            refused = await alice.command(op=op, channel=channel)
            assert forbidden(refused, op, channel), refused
        refused = await alice.command(op="publish", channel=channel, data="I am bob")
        assert forbidden(refused, "publish", channel), refused
    async with httpx.AsyncClient(timeout=30, headers=auth(hub, "alice")) as http:
        for path in (f"sse?channel={channel}", f"stream?channel={channel}",
                     f"poll?channel={channel}", f"api/channels/{channel}/history"):
            r = await http.get(f"{hub.service}realtime/{path}")
            assert r.status_code == 403, (path, r.text)
    # bob and the teacher do read it: the refusal is the policy, not a broken channel
    texts = [p["data"] for p in await history(hub, "teacher", channel)]
    assert f"help ({transport})" in texts


async def test_a_hub_custom_scope_grants_what_a_rule_names(hub: RealtimeHub) -> None:
    # ``ta`` is in no group: the role giving custom:realtime:announce is what lets her
    assert (await rest_publish(hub, "ta", "class:scoped", "from the TA")).status_code == 200
    assert (await rest_publish(hub, "carol", "class:scoped", "me too")).status_code == 403
    assert [p["sender"] for p in await history(hub, "carol", "class:scoped")] == ["ta"]


async def test_no_deleting_history_and_no_other_jupyter_api(hub: RealtimeHub) -> None:
    assert (await rest_publish(hub, "teacher", "class:keep", "stays")).status_code == 200
    async with httpx.AsyncClient(timeout=30, headers=auth(hub, "alice")) as http:
        gone = await http.delete(f"{hub.service}realtime/api/channels/class:keep/history")
        assert gone.status_code == 405
        gone = await http.delete(f"{hub.service}realtime/api/channels/class:keep")
        assert gone.status_code == 405
        # the service is a Jupyter server that serves channels and nothing else
        for method, path in (("POST", "api/kernels"), ("GET", "api/kernels"),
                             ("GET", "api/contents"), ("GET", "api/terminals")):
            r = await http.request(method, f"{hub.service}{path}")
            assert r.status_code in (403, 404), (method, path, r.status_code)
        anonymous = await http.get(
            f"{hub.service}realtime/api/channels", headers={"Authorization": "token forged"}
        )
        assert anonymous.status_code == 403 and anonymous.json()["error"]["code"] == "forbidden"
    assert [p["data"] for p in await history(hub, "alice", "class:keep")] == ["stays"]


async def test_another_hub_service_is_named_as_a_service_never_as_a_user(
    hub: RealtimeHub,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(
            f"{hub.service}realtime/api/channels/chat:services",
            json="from a service",
            headers={"Authorization": f"token {hub.admin_token}"},
        )
    assert reply.status_code == 200, reply.text
    assert [p["sender"] for p in await history(hub, "bob", "chat:services")] == [
        "service:tester"
    ]


async def test_a_token_without_access_to_the_service_is_refused(hub: RealtimeHub) -> None:
    # alice's own token, limited to reading her name: valid at the hub, not for the service
    made = hub.api("POST", "users/alice/tokens", json={"scopes": ["read:users:name!user"]})
    assert made.status_code == 201, made.text
    narrow = {"Authorization": f"token {made.json()['token']}"}
    async with httpx.AsyncClient(timeout=30, headers=narrow) as http:
        for method, path in (("GET", "api/channels"), ("POST", "api/channels/chat:narrow"),
                             ("GET", "sse?channel=chat:narrow")):
            r = await http.request(method, f"{hub.service}realtime/{path}", json=1)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"]["code"] == "forbidden"
    assert await history(hub, "alice", "chat:narrow") == []


def test_serve_outside_a_hub_says_so_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_realtime.client.cli", "serve"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "JUPYTERHUB_API_TOKEN, JUPYTERHUB_SERVICE_URL, JUPYTERHUB_SERVICE_PREFIX not set" in (
        done.stderr
    )


FORGED_CONFIG = """
c.RealtimeApp.token_user = "teacher"
c.RealtimeApp.user_groups = {"teachers": ["alice"]}
c.RealtimeApp.channel_default = ["*"]
"""

KERNEL_CODE = """
import os
import jupyter_realtime as rt
from jupyter_realtime.client import Forbidden
print(os.environ["JUPYTER_REALTIME_URL"])
print(rt.channel("chat:forged").publish({"text": "hi", "sender": "teacher"}).offset)
try:
    rt.channel("class:forged").publish("no homework today")
except Forbidden:
    print("forbidden")
"""


async def test_a_forged_identity_in_a_users_own_config_has_no_effect(
    hub: RealtimeHub,
) -> None:
    home = hub.home("alice")
    (home / ".jupyter").mkdir(exist_ok=True)
    (home / ".jupyter" / "jupyter_server_config.py").write_text(FORGED_CONFIG)
    user_url = await asyncio.to_thread(hub.spawn, "alice")
    async with httpx.AsyncClient(timeout=60, headers=auth(hub, "alice")) as http:
        # her server delegates to the service: no broker, no realtime endpoints of its own
        own = await http.get(f"{user_url}realtime/api/channels")
        assert own.status_code == 404, own.text
        started = await http.post(f"{user_url}api/kernels", json={"name": "python3"})
        assert started.status_code == 201, started.text
        kernel_id = started.json()["id"]
        try:
            out = await run_in_kernel(home, kernel_id, KERNEL_CODE)
        finally:
            await http.delete(f"{user_url}api/kernels/{kernel_id}")
    assert out.splitlines() == [hub.service, "1", "forbidden"]
    assert [p["sender"] for p in await history(hub, "bob", "chat:forged")] == ["alice"]


async def run_in_kernel(home: Path, kernel_id: str, code: str) -> str:
    """Run ``code`` in a kernel of the user's server (same machine: its connection file)."""
    from jupyter_client.asynchronous import AsyncKernelClient

    found = list(home.glob(f".local/share/jupyter/runtime/kernel-{kernel_id}.json"))
    assert found, f"no connection file for kernel {kernel_id} under {home}"
    client = AsyncKernelClient()
    client.load_connection_file(str(found[0]))
    # no heartbeat channel: on a loaded machine a late heartbeat reads as a dead kernel
    client.start_channels(hb=False)
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    try:
        await client.wait_for_ready(timeout=60)
        reply = await client.execute_interactive(
            textwrap.dedent(code), output_hook=hook, timeout=60
        )
    finally:
        client.stop_channels()
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)
