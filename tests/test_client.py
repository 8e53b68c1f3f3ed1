"""The Python client against a real server: async API, blocking API, errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import anyio
import pytest

import jupyter_realtime.client as rt
from jupyter_realtime.client import AsyncClient, Message, Position


async def test_publish_history_presence_and_binary(server: Any) -> None:
    async with AsyncClient(server.http(), server.token) as client:
        ch = client.channel("async-basic")
        first = await ch.publish({"x": 1})
        assert first == Position(first.epoch, 1)
        assert await ch.publish(b"\x00\xffraw") == Position(first.epoch, 2)
        history = await ch.history(limit=10)
        assert [m.data for m in history] == [{"x": 1}, b"\x00\xffraw"]
        assert [m.offset for m in await ch.history(limit=1)] == [2]
        assert [m.offset for m in await ch.history(since=1)] == [2]
        async with ch.subscribe(presence=True):
            (who,) = await ch.presence()
            assert who["user"] and who["client"]
        assert await ch.presence() == []


async def test_subscribe_receives_in_order_text_and_binary(server: Any) -> None:
    async with AsyncClient(server.http(), server.token) as client:
        ch = client.channel("async-sub")
        async with ch.subscribe() as sub:
            for data in ({"n": 1}, b"two", [3]):
                await ch.publish(data)
            got = [await sub.__anext__() for _ in range(3)]
        assert [m.data for m in got] == [{"n": 1}, b"two", [3]]
        assert [m.offset for m in got] == [1, 2, 3]
        assert all(isinstance(m, Message) and m.sender for m in got)


async def test_subscribe_since_replays_first(server: Any) -> None:
    async with AsyncClient(server.http(), server.token) as client:
        ch = client.channel("async-since")
        await ch.publish_many(range(5))
        async with ch.subscribe(since=2) as sub:
            await ch.publish(5)
            got = [(await sub.__anext__()).data for _ in range(4)]
        assert got == [2, 3, 4, 5]


async def test_errors_are_typed_with_the_contract_code(server: Any) -> None:
    async with AsyncClient(server.http(), server.token) as client:
        with pytest.raises(rt.BadRequest) as bad:
            client.channel("no/slash")
        assert bad.value.code is rt.ErrorCode.BAD_REQUEST
        with pytest.raises(rt.TooLarge) as large:
            await client.channel("big").publish(b"x" * (1 << 20 + 1))
        assert large.value.code.value == "too_large"
        assert isinstance(large.value, rt.RealtimeError)
        with pytest.raises(rt.BadRequest):
            await client.channel("bad-limit").history(limit=5000)
        assert await client.channel("still-open").publish(1)  # the connection survived


async def test_bad_token_and_no_server_say_what_was_tried(
    server: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    with pytest.raises(rt.Forbidden, match="refused the token"):
        async with AsyncClient(server.http(), "wrong"):
            pass
    monkeypatch.delenv("JUPYTER_REALTIME_URL", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(rt.Unavailable, match="JUPYTER_REALTIME_URL \\(not set\\).*none found"):
        async with AsyncClient():
            pass


async def test_publish_nowait_pipelines_and_flush_reports_errors(server: Any) -> None:
    async with AsyncClient(server.http(), server.token) as client:
        ch = client.channel("nowait")
        for i in range(2000):
            ch.publish_nowait({"i": i})
        await ch.flush()
        (last,) = await ch.history(limit=1)
        assert last.offset == 2000 and last.data == {"i": 1999}
        ch.publish_nowait(b"x" * (2 << 20))
        with pytest.raises(rt.TooLarge):
            await ch.flush()
        await ch.flush()  # reported once


async def test_publish_nowait_raises_only_for_its_own_publication(server: Any) -> None:
    # as anyio's send_nowait: a call that returns has queued its message; an earlier
    # publication's failure comes from flush() and that publication's callback, never from
    # a later, unrelated publish_nowait (which used to raise it and drop its own message)
    async with AsyncClient(server.http(), server.token) as client:
        ch = client.channel("nowait-own")
        ch.publish_nowait(b"x" * (2 << 20))  # the server refuses it: too large
        await client.channel("other").publish(1)  # a round trip after it: its reply is back
        ch.publish_nowait({"after": 1})  # does not raise the earlier failure
        with pytest.raises(rt.TooLarge):
            await ch.flush()
        (last,) = await ch.history(limit=1)
        assert (last.offset, last.data) == (1, {"after": 1})  # and was not dropped

        answers: list[tuple[Any, Any]] = []
        ch.publish_nowait(b"x" * (2 << 20), callback=lambda *answer: answers.append(answer))
        ch.publish_nowait({"after": 2}, callback=lambda *answer: answers.append(answer))
        with pytest.raises(rt.TooLarge):
            await ch.flush()
        ((refused, error), accepted) = answers  # each publication's own answer, in order
        assert refused is None and isinstance(error, rt.TooLarge)
        assert accepted == (Position(last.epoch, 2), None)


async def test_on_message_callbacks_sync_and_async(server: Any) -> None:
    async with AsyncClient(server.http(), server.token) as client:
        ch = client.channel("callbacks")
        got: list[Any] = []
        done = anyio.Event()

        async def later(msg: Message) -> None:
            got.append(("async", msg.data))
            if msg.data == 2:
                done.set()

        await ch.add_callbacks(lambda msg: got.append(("sync", msg.data)))
        await ch.add_callbacks(later)
        await ch.publish(1)
        await ch.publish(2)
        with anyio.fail_after(5):
            await done.wait()
        assert sorted(got) == [("async", 1), ("async", 2), ("sync", 1), ("sync", 2)]


def _blocking_api(url: str, token: str) -> dict[str, Any]:
    """The blocking client, as a script uses it (run on a thread: the server shares our loop)."""
    with rt.connect(url, token) as client:
        ch = client.channel("blocking")
        seen: list[Any] = []
        threads: set[str] = set()
        arrived = threading.Event()

        @ch.on_message
        def show(msg: Message) -> None:
            seen.append(msg.data)
            threads.add(threading.current_thread().name)
            if len(seen) == 3:
                arrived.set()

        with ch.subscribe() as sub:
            position = ch.publish({"x": 2})
            ch.publish_many([b"bin", 3])
            iterated = [next(sub).data for _ in range(3)]
        arrived.wait(5)
        for i in range(500):
            ch.publish_nowait(i)
        ch.flush()
        return {
            "position": position,
            "iterated": iterated,
            "seen": seen[:3],
            "threads": threads,
            "history": [m.data for m in ch.history(limit=2)],
            "channels": {c["channel"]: c["offset"] for c in client.channels()},
        }


async def test_blocking_api(server: Any) -> None:
    out = await asyncio.to_thread(_blocking_api, server.http(), server.token)
    assert out["position"].offset == 1
    assert out["iterated"] == [{"x": 2}, b"bin", 3]
    assert out["seen"] == [{"x": 2}, b"bin", 3]
    assert out["threads"] == {"jupyter-realtime-callbacks"}  # no loop in the caller: own thread
    assert out["history"] == [498, 499]
    assert out["channels"]["blocking"] == 503


def _async_iteration_in_caller_loop(url: str, token: str) -> list[Any]:
    """``async for`` over a blocking client's subscription, in the caller's own loop."""
    with rt.connect(url, token) as client:
        ch = client.channel("caller-loop")

        async def main() -> list[Any]:
            loop_thread = threading.get_ident()
            got: list[Any] = []
            callback_threads: list[bool] = []
            ch.on_message(lambda msg: callback_threads.append(threading.get_ident() == loop_thread))
            sub = ch.subscribe()
            ch.publish("a")
            ch.publish("b")
            async for msg in sub:
                got.append(msg.data)
                if len(got) == 2:
                    break
            sub.close()
            await asyncio.sleep(0.1)
            return got + callback_threads

        return asyncio.run(main())


async def test_blocking_api_delivers_into_the_callers_loop(server: Any) -> None:
    got = await asyncio.to_thread(_async_iteration_in_caller_loop, server.http(), server.token)
    assert got == ["a", "b", True, True]
