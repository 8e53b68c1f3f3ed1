"""The blocking client's async callbacks, run in the caller's own loop."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest

import jupyter_realtime as rt
from jupyter_realtime.client import Message


def _raising_async_callback(url: str, token: str) -> list[Any]:
    with rt.connect(url, token) as client:
        ch = client.channel("async-raises")

        async def main() -> list[Any]:
            got: list[Any] = []
            done = threading.Event()

            async def fails(msg: Message) -> None:
                await asyncio.sleep(0)
                got.append(msg.data)
                done.set()
                raise ValueError(f"bad {msg.data}")

            ch.on_message(fails)
            ch.publish("x")
            while not done.is_set():
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
            gc.collect()  # an unretrieved task exception is logged when the task is collected
            return got

        return asyncio.run(main())


async def test_an_async_callback_that_raises_is_reported(
    server: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    got = await asyncio.to_thread(_raising_async_callback, server.http(), server.token)
    assert got == ["x"]
    err = capsys.readouterr().err
    assert "jupyter_realtime: callback " in err and "fails raised" in err
    assert "ValueError: bad x" in err
    assert "never retrieved" not in caplog.text
