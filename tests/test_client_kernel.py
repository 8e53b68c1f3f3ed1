"""A real kernel, started through the server's REST API, publishes and subscribes."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from jupyter_realtime.client import AsyncClient


@asynccontextmanager
async def started_kernel(jp_fetch: Any, jp_serverapp: Any) -> AsyncIterator[Any]:
    """A kernel started with ``POST api/kernels``, and a client on its connection file."""
    reply = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(reply.body)["id"]
    manager = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    try:
        yield client
    finally:
        client.stop_channels()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")


async def run(kernel: Any, code: str) -> str:
    """Execute ``code`` in the kernel; its stdout (errors fail the test)."""
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(content["traceback"]))

    reply = await kernel.execute_interactive(textwrap.dedent(code), output_hook=hook, timeout=60)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


async def test_kernel_publishes_and_subscribes_without_url_or_token(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await in_kernel(server, kernel)


async def in_kernel(server: Any, kernel: Any) -> None:
    out = await run(
        kernel,
        """
        import os, threading
        import jupyter_realtime as rt
        assert os.environ["JUPYTER_REALTIME_URL"] and os.environ["JUPYTER_REALTIME_TOKEN"]
        ch = rt.channel("kernel-demo")
        seen, in_main_thread = [], []

        @ch.on_message
        def show(pub):
            seen.append(pub.data)
            in_main_thread.append(threading.current_thread() is threading.main_thread())
            if pub.data == "ping":  # publish from a callback, while no cell runs
                rt.channel("kernel-echo").publish({"echo": pub.data})

        print(ch.publish({"x": 2}).offset)
        """,
    )
    assert out.strip() == "1"

    async with AsyncClient(server.http(), server.token) as client:
        async with client.channel("kernel-echo").subscribe() as echoes:
            await client.channel("kernel-demo").publish("ping")  # the kernel is idle
            with anyio.fail_after(20):
                echo = await echoes.__anext__()
    assert echo.data == {"echo": "ping"}

    out = await run(
        kernel,
        """
        print(seen, all(in_main_thread))
        print([m.data for m in ch.history(limit=5)])
        sub = ch.subscribe(presence=True)
        print(len(ch.presence()))
        ch.publish(b"bytes")
        async for pub in sub:  # the async form, in the kernel's own loop
            print(repr(pub.data))
            break
        sub.close()
        for i in range(3000):
            ch.publish_nowait(i)
        ch.flush()
        print(ch.history(limit=1)[0].data)
        """,
    )
    assert out.splitlines() == [
        "[{'x': 2}, 'ping'] True",
        "[{'x': 2}, 'ping']",
        "1",
        "b'bytes'",
        "2999",
    ]

    out = await run(
        kernel,
        """
        from jupyter_realtime.client import AsyncClient
        async with AsyncClient() as client:  # the async client, in the kernel's loop
            ach = client.channel("kernel-async")
            async with ach.subscribe() as asub:
                await ach.publish("hello")
                print((await asub.__anext__()).data)
        """,
    )
    assert out.strip() == "hello"
