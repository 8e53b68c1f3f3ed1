"""``%realtime mirror`` in a real kernel started by the server: what the channel receives."""

from __future__ import annotations

import asyncio
import base64
import re
import textwrap
import time
import zlib
from typing import Any

import anyio
from test_client_kernel import started_kernel

from jupyter_realtime.client import AsyncClient


async def execute(kernel: Any, code: str, ok: bool = True) -> list[dict[str, Any]]:
    """Run ``code``; the output messages the cell got (iopub), as Jupyter shows them."""
    outputs: list[dict[str, Any]] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("stream", "display_data", "update_display_data", "error",
                               "execute_result", "clear_output"):  # fmt: skip
            outputs.append({"type": msg["msg_type"], **msg["content"]})

    reply = await kernel.execute_interactive(textwrap.dedent(code), output_hook=hook, timeout=120)
    status = reply["content"]["status"]
    assert (status == "ok") is ok, outputs
    return outputs


def text_of(outputs: list[dict[str, Any]], name: str = "stdout") -> str:
    return "".join(o["text"] for o in outputs if o["type"] == "stream" and o["name"] == name)


async def mirrored(server: Any, channel: str, until: str = "cell_end", n: int = 1) -> list[Any]:
    """The channel's history, once it holds ``n`` messages of type ``until``."""
    async with AsyncClient(server.http(), server.token) as client:
        with anyio.fail_after(30):
            while True:
                data = [m.data for m in await client.channel(channel).history(limit=1000)]
                if sum(1 for d in data if d.get("type") == until) >= n:
                    return data
                await anyio.sleep(0.1)


def png(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (grey pixels), without an imaging library."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x00\x00\x00\x00"
    rows = b"".join(b"\x00" + bytes([128]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + (chunk(b"IEND", b""))
    )


async def test_mirrored_cell_in_order_with_rich_outputs(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    image = png()
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(kernel, "%load_ext jupyter_realtime")
        shown = await execute(
            kernel,
            f"""
            %%realtime mirror mirror:demo
            import sys, base64
            from IPython.display import display, Image, HTML, update_display, clear_output
            print("one")
            print("two", file=sys.stderr)
            display(Image(data=base64.b64decode({base64.b64encode(image).decode()!r})))
            h = display(HTML("<b>0%</b>"), display_id=True)
            print("three")
            h.update(HTML("<b>100%</b>"))
            display({{"application/json": {{"k": [1, 2]}}}}, raw=True)
            41 + 1
            """,
        )
        assert text_of(shown) == "one\nthree\n"
        assert shown[-1]["type"] == "execute_result"  # the cell shows what it always shows
        assert shown[-1]["data"]["text/plain"] == "42"
        data = await mirrored(server, "mirror:demo")

    types = [d["type"] for d in data]
    assert types[0] == "cell_start" and types[-1] == "cell_end"
    assert data[0]["v"] == 1 and "%%realtime" not in data[0]["code"]
    assert 'print("one")' in data[0]["code"]
    cells = {d["cell"] for d in data}
    assert len(cells) == 1
    body = [d for d in data[1:-1]]
    by_type = [d["type"] for d in body]
    assert by_type == [
        "stream",
        "stream",
        "display_data",
        "display_data",
        "stream",
        "update_display_data",
        "display_data",
        "execute_result",
    ]
    assert body[0] == {"type": "stream", "cell": data[0]["cell"], "name": "stdout", "text": "one\n"}
    assert body[1]["name"] == "stderr" and body[1]["text"] == "two\n"
    assert base64.b64decode(body[2]["data"]["image/png"]) == image  # intact
    assert body[3]["data"]["text/html"] == "<b>0%</b>" and body[3]["display_id"]
    assert body[5]["display_id"] == body[3]["display_id"]
    assert body[5]["data"]["text/html"] == "<b>100%</b>"
    assert body[6]["data"]["application/json"] == {"k": [1, 2]}
    assert body[7]["data"]["text/plain"] == "42"
    assert data[-1]["status"] == "ok" and data[-1]["duration"] >= 0


async def test_a_print_loop_is_coalesced_and_threads_are_mirrored(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(kernel, "%load_ext jupyter_realtime\n%realtime mirror mirror:loop")
        shown = await execute(kernel, "for i in range(100_000):\n    print(f'line {i}')")
        shown += await execute(
            kernel,
            """
            import threading
            from IPython.display import display
            def work():
                print("from a thread")
                display({"text/plain": "display from a thread"}, raw=True)
            t = threading.Thread(target=work)
            t.start(); t.join()
            """,
        )
        await execute(kernel, "%realtime mirror off")
        await execute(kernel, "print('not mirrored')")
        data = await mirrored(server, "mirror:loop", n=4)

    lines = text_of(shown).splitlines()
    assert lines[:100_000] == [f"line {i}" for i in range(100_000)]  # the cell's own output
    cells = [d for d in data if d["type"] == "cell_start"]
    assert len(cells) == 4  # the loop, the thread, `mirror off` (ended at once); not the last
    loop = [d for d in data if d["cell"] == cells[1]["cell"] and d["type"] == "stream"]
    assert 1 <= len(loop) < 200  # far fewer publications than prints
    text = "".join(d["text"] for d in loop)
    assert text.endswith("line 99999\n")  # the last line always arrives
    assert text.startswith("line 0\n")
    skipped = sum(d.get("skipped", {}).get("lines", 0) for d in loop)
    print(len(loop), "publications,", skipped, "lines cut,", len(text), "characters")
    assert text.count("\nline ") + 1 + skipped == 100_000  # every line sent or counted as cut
    threaded = [d for d in data if d["cell"] == cells[2]["cell"]]
    assert [d["type"] for d in threaded] == ["cell_start", "stream", "display_data", "cell_end"]
    assert threaded[1]["text"] == "from a thread\n"
    assert threaded[2]["data"]["text/plain"] == "display from a thread"
    assert not any("print('not mirrored')" in d.get("code", "") for d in data)
    assert not any(d.get("text") == "not mirrored\n" for d in data)


async def test_a_line_rewritten_with_carriage_returns_is_mirrored_while_it_runs(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    # Keras, tqdm writing to a file, pip: `\r` rewrites one line that ends only when the
    # run does; the mirror held that line (and all its states) until a newline came
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(kernel, "%load_ext jupyter_realtime")
        async with AsyncClient(server.http(), server.token) as client:
            arrived: list[tuple[float, dict[str, Any]]] = []
            async with client.channel("mirror:cr").subscribe() as sub:
                cell = asyncio.ensure_future(
                    execute(
                        kernel,
                        """
                        %%realtime mirror mirror:cr
                        import sys, time
                        for i in range(60):
                            sys.stdout.write(f"\\r{i:3d}/60 loss {1 / (i + 1):.3f}")
                            sys.stdout.flush()
                            time.sleep(0.1)
                        print(" done")
                        """,
                    )
                )
                with anyio.fail_after(120):
                    async for msg in sub:
                        arrived.append((time.monotonic(), msg.data))
                        if msg.data["type"] == "cell_end":
                            break
                await cell
    start = next(t for t, d in arrived if d["type"] == "cell_start")
    running = [(t, d) for t, d in arrived if d["type"] == "stream" and " done" not in d["text"]]
    print([round(t - start, 2) for t, _ in running])
    assert len(running) >= 3, arrived  # the line's state, while it ran (was: none)
    assert running[0][0] - start < 2.5  # the first state within a couple of seconds
    assert all("\r" in d["text"] and "\n" not in d["text"] for _, d in running)
    text = "".join(d["text"] for _, d in arrived if d["type"] == "stream")
    assert text.startswith("\r  0/60 loss 1.000") and text.endswith("\r 59/60 loss 0.017 done\n")


async def test_errors_and_in_place_updates_are_mirrored(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(kernel, "%load_ext jupyter_realtime")
        await execute(
            kernel,
            """
            %%realtime mirror mirror:bar
            import time
            from IPython.display import clear_output
            for i in range(5):
                clear_output(wait=True)
                print(f"step {i}")
                time.sleep(0.3)
            """,
        )
        shown = await execute(
            kernel,
            """
            %%realtime mirror mirror:bar
            print("before")
            raise ValueError("boom")
            """,
            ok=False,
        )
        assert text_of(shown) == "before\n"
        await execute(kernel, "%config RealtimeMirror.max_bundle_bytes = 5000")
        shown = await execute(
            kernel,
            """
            %%realtime mirror mirror:big
            import os
            from IPython.display import Image
            Image(data=b"\\x89PNG\\r\\n\\x1a\\n" + os.urandom(30_000))
            """,
        )
        assert len(shown[-1]["data"]["image/png"]) > 40_000  # the cell shows it all
        data = await mirrored(server, "mirror:bar", n=2)
        (big,) = [d for d in await mirrored(server, "mirror:big") if d["type"] == "execute_result"]

    first = [d for d in data if d["cell"] == data[0]["cell"]]
    kinds = [d["type"] for d in first]
    assert kinds.count("clear_output") >= 3 and all(d["wait"] for d in first if "wait" in d)
    # replaying the messages as Jupyter does leaves only the last step
    shown_text = ""
    waiting = False
    for d in first:
        if d["type"] == "clear_output":
            waiting = True
        elif d["type"] == "stream":
            shown_text = d["text"] if waiting else shown_text + d["text"]
            waiting = False
    assert shown_text == "step 4\n"
    second = [d for d in data if d["cell"] != data[0]["cell"]]
    assert [d["type"] for d in second] == ["cell_start", "stream", "error", "cell_end"]
    error = second[2]
    assert error["ename"] == "ValueError" and error["evalue"] == "boom"
    assert any("boom" in line for line in error["traceback"])
    # IPython 8 colours the code in tracebacks token by token
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in error["traceback"]]
    assert any('raise ValueError("boom")' in line for line in plain), plain
    assert not any("_magics.py" in line for line in error["traceback"])  # the cell's frames only
    assert second[3]["status"] == "error"
    assert "image/png" not in big["data"] and big["truncated"]["image/png"] > 40_000
    assert "[not mirrored: image/png (" in big["data"]["text/plain"]


async def test_the_result_is_mirrored_by_an_ipykernel_without_display_hook_hooks(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(
            kernel,
            """
            from ipykernel.displayhook import ZMQShellDisplayHook
            if hasattr(ZMQShellDisplayHook, "register_hook"):
                del ZMQShellDisplayHook.register_hook  # as in ipykernel before 7
            %load_ext jupyter_realtime
            """,
        )
        shown = await execute(kernel, "%%realtime mirror mirror:old\n6 * 7")
        assert shown[-1]["data"]["text/plain"] == "42"
        data = await mirrored(server, "mirror:old")
    assert [d["type"] for d in data] == ["cell_start", "execute_result", "cell_end"]
    assert data[1]["data"]["text/plain"] == "42" and data[1]["execution_count"] == 2


async def test_the_cell_shows_the_same_output_with_and_without_mirroring(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    body = """
    import sys, threading
    from IPython.display import display, clear_output, HTML
    print("a"); print("b", file=sys.stderr)
    h = display(HTML("<i>1</i>"), display_id="bar")
    clear_output(wait=True)
    print("c", end="")
    h.update(HTML("<i>2</i>"))
    t = threading.Thread(target=lambda: print("from a thread")); t.start(); t.join()
    {"answer": 42}
    """

    def normal(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in o.items() if k != "execution_count"} for o in outputs]

    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(kernel, "%load_ext jupyter_realtime")
        plain = await execute(kernel, body)
        mirrored_cell = await execute(kernel, "%%realtime mirror mirror:same\n" + body)
    assert normal(mirrored_cell) == normal(plain)
    assert len(plain) >= 6
