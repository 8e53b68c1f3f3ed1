"""The ``%realtime`` magics and ``progress`` in real kernels started by the server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from typing import Any

import anyio
from test_client_kernel import started_kernel
from test_kernel_mirror import execute, mirrored, png, text_of

from jupyter_realtime.client import AsyncClient


async def test_watch_shows_a_run_nobody_watched_then_follows_live(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    image = png()
    async with started_kernel(jp_fetch, jp_serverapp) as runner:
        await execute(runner, "%load_ext jupyter_realtime")
        await execute(
            runner,
            f"""
            %%realtime mirror watch:log
            from IPython.display import Image, display
            for epoch in range(3):
                print(f"epoch {{epoch}}")
            display(Image(data={image!r}))
            from jupyter_realtime import progress
            for _ in progress(range(3), desc="steps"):  # to the cell's mirror channel
                pass
            """,
        )
        history = await mirrored(server, "watch:log")  # the run is over; nobody watched it
        # the bar's own widget is left out: its text would stay frozen at its first state
        shown_text = [str(m.get("data", {}).get("text/plain", "")) for m in history]
        assert not any("steps" in t for t in shown_text), shown_text
        assert any(m.get("type") == "progress" and m["done"] for m in history)
        async with started_kernel(jp_fetch, jp_serverapp) as watcher:
            await execute(watcher, "%load_ext jupyter_realtime\n%realtime watch watch:log")
            await execute(watcher, "%realtime watch watch:log 2")  # a second view, shorter
            shown = await execute(
                watcher,
                """
                from jupyter_realtime.kernel._watch import VIEWS
                view = VIEWS[-2]
                print(view.text())
                print(VIEWS[-1].received)
                print([sorted(o["data"]) for o in view.shown() if "data" in o])
                """,
            )
            text = text_of(shown)
            assert "epoch 0\nepoch 1\nepoch 2\n" in text
            assert "In [2]" in text  # the header of the mirrored cell
            assert "['image/png', 'text/plain']" in text
            assert "\n2\n" in text  # the second view read the last 2 publications
            shown = await execute(
                watcher,
                "print([(b.value, b.max, b.bar_style, l.value) for b, l in view._bars.values()])",
            )
            assert text_of(shown).startswith("[(3.0, 3.0, 'success', 'steps 3/3 ")  # and its rate

            await execute(runner, "%%realtime mirror watch:log\nprint('live line')")
            shown = await execute(
                watcher,
                """
                import asyncio
                for _ in range(300):  # the view is fed in the kernel's loop: await, not sleep
                    seen = [v.text() for v in VIEWS[-2:]] + [str(view.shown())]
                    if all("live line" in x for x in seen):
                        break
                    await asyncio.sleep(0.1)
                print(view.text().count("live line"), view.text().count("epoch 2"))
                print(VIEWS[-1].text().count("live line"))
                """,
            )
            assert text_of(shown).split() == ["1", "1", "1"]  # both views, once each


async def test_watch_sends_each_update_not_the_whole_output_again(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    # the view was one ipywidgets Output whose whole `outputs` went to the browser on every
    # render: about 2 MB per update after 20,000 lines; now an update sends one block
    lines = [f"step {i:05d} loss {1 / (i + 1):.6f} lr 0.001 norm 1.25\n" for i in range(20_000)]
    total = sum(map(len, lines))
    async with started_kernel(jp_fetch, jp_serverapp) as watcher:
        await execute(watcher, "%load_ext jupyter_realtime\n%realtime watch watch:big")
        sizes: list[int] = []

        async def drain() -> None:  # what the kernel sends to draw the view
            while True:
                msg = await watcher.get_iopub_msg(timeout=60)
                if msg["msg_type"] in ("comm_open", "comm_msg"):
                    body = json.dumps(msg["content"])
                    sizes.append(len(body) + sum(len(b) for b in msg.get("buffers", [])))
                    if "step 19999" in body:
                        return

        drawing = asyncio.ensure_future(drain())
        async with AsyncClient(server.http(), server.token) as client:
            ch = client.channel("watch:big")
            await ch.publish({"type": "cell_start", "cell": "c", "v": 1, "execution_count": 3})
            for i in range(0, len(lines), 200):  # a run: 100 publications over a few seconds
                await ch.publish({"type": "stream", "cell": "c", "name": "stdout",
                                  "text": "".join(lines[i : i + 200])})  # fmt: skip
                await anyio.sleep(0.03)
        await asyncio.wait_for(drawing, 120)
        print(f"{len(sizes)} messages, {sum(sizes)} bytes, largest {max(sizes)} for {total} bytes")
        assert len(sizes) > 10  # drawn as it came, not once at the end
        assert max(sizes) < 40_000  # one block (about 16 KiB of text) per message at most
        assert sum(sizes) < 2 * total  # in all, about the text once, not once per update
        shown = await execute(
            watcher,
            """
            from jupyter_realtime.kernel._watch import VIEWS
            view = VIEWS[-1]
            text = "".join(o["text"] for o in view.shown() if o["output_type"] == "stream")
            print(text == view.text().split("\\n", 1)[1], len(text), len(view.box.children))
            """,
        )
        assert text_of(shown).split()[:2] == ["True", str(total)]


async def test_publish_and_channels(server: Any, jp_fetch: Any, jp_serverapp: Any) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(kernel, "%load_ext jupyter_realtime")
        shown = await execute(kernel, "%%realtime publish magic:prices\n{'eur': 1.08, 'n': [1, 2]}")
        assert shown[-1]["type"] == "execute_result"
        # a success is no error: stdout, not stderr (a notebook shows stderr in red)
        assert text_of(shown) == "published to 'magic:prices' at offset 1\n"
        assert text_of(shown, "stderr") == ""
        shown = await execute(kernel, "%%realtime publish magic:raw\nb'\\x00\\x01'")
        shown = await execute(kernel, "%%realtime publish magic:raw\nx = 1")
        assert "nothing published to 'magic:raw': the cell has no result" in text_of(
            shown, "stderr"
        )
        shown = await execute(kernel, "%realtime channels")
        table = shown[-1]["data"]
        assert (
            "<th>channel</th><th>subscribers</th><th>last offset</th><th>age</th>"
            in (table["text/html"])
        )
        row = next(line for line in table["text/plain"].splitlines() if "magic:prices" in line)
        assert row.split()[1:3] == ["0", "1"] and row.split()[-1] == "s"

        reply = await kernel.execute_interactive("%realtime?", timeout=60)
        (page,) = reply["content"]["payload"]  # the pager shows the magic's usage
        assert "%%realtime mirror CHANNEL" in page["data"]["text/plain"]
        assert "%realtime watch CHANNEL" in page["data"]["text/plain"]

    async with AsyncClient(server.http(), server.token) as client:
        (prices,) = await client.channel("magic:prices").history()
        (raw,) = await client.channel("magic:raw").history()
    assert prices.data == {"eur": 1.08, "n": [1, 2]}
    assert raw.data == b"\x00\x01"


async def test_bad_input_is_one_line_on_stderr_and_the_cell_runs(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(kernel, "%load_ext jupyter_realtime")
        rule = "1 to 200 characters of A-Z a-z 0-9 _ - . : @"
        for code, name, then in (
            ("%%realtime mirror bad name", "bad name", "no mirroring to it; the cell runs"),
            ("%realtime mirror bad/name", "bad/name", "no mirroring to it; the cell runs"),
            ("%%realtime mirror bad/name", "bad/name", "no mirroring to it; the cell runs"),
            ("%realtime mirror bad name", "bad name", "no mirroring to it; the cell runs"),
            ("%realtime watch bad/name", "bad/name", "cannot watch it"),
            ("%realtime watch bad name 10", "bad name", "cannot watch it"),
            ("%%realtime publish bad/name", "bad/name", "nothing will be published; the cell"),
            ("%%realtime publish bad name", "bad name", "nothing will be published; the cell"),
        ):
            shown = await execute(kernel, f"{code}\nprint('still runs')")
            assert text_of(shown) == "still runs\n", code
            (line,) = text_of(shown, "stderr").splitlines()  # one line: what, why, and then
            assert line.startswith(f"jupyter_realtime: bad channel name {name!r}: {rule}; {then}")
        # a cell magic always runs its cell; a line magic's bad usage is a UsageError
        shown = await execute(kernel, "%%realtime mirorr x\nprint('still runs')")
        assert text_of(shown) == "still runs\n"
        assert text_of(shown, "stderr") == (
            "jupyter_realtime: %%realtime mirorr x: expected %%realtime mirror CHANNEL or "
            "%%realtime publish CHANNEL; the cell runs without it\n"
        )
        reply = await kernel.execute_interactive("%realtime mirorr x", timeout=60)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "UsageError"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_server_is_reported_and_the_cell_runs(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(
            kernel,
            f"""
            import os
            os.environ["JUPYTER_REALTIME_URL"] = "http://127.0.0.1:{free_port()}/"
            %load_ext jupyter_realtime
            """,
        )
        for code in (
            "%%realtime mirror gone:log\nprint('still runs')",
            "%realtime mirror gone:log\nprint('still runs')",
            "%realtime watch gone:log\nprint('still runs')",
            "%realtime channels\nprint('still runs')",
            "from jupyter_realtime import progress\n"
            "print(sum(progress(range(10), channel='gone:bar')))\nprint('still runs')",
        ):
            shown = await execute(kernel, code)
            assert text_of(shown).endswith("still runs\n"), code
            errors = text_of(shown, "stderr")
            assert "jupyter_realtime: " in errors and "127.0.0.1" in errors, errors
        assert "45\n" in text_of(shown)


async def test_progress_is_throttled_and_ends_exact(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        shown = await execute(
            kernel,
            """
            import time
            from jupyter_realtime import progress
            for i in progress(range(40), channel="prog:bar", desc="train"):
                time.sleep(0.05)
            for i in progress(range(200_000), channel="prog:fast", unit="rows"):
                pass
            bar = progress(total=10, channel="prog:manual")
            bar.update(3)
            bar.close()
            """,
        )
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in shown)
    async with AsyncClient(server.http(), server.token) as client:
        slow = [m.data for m in await client.channel("prog:bar").history()]
        fast = [m.data for m in await client.channel("prog:fast").history()]
        manual = [m.data for m in await client.channel("prog:manual").history()]
    # at most one update every 0.25 s (however slow the machine), then the exact last state
    assert 3 <= len(slow) <= slow[-1]["elapsed"] / 0.25 + 2
    assert all(b["time"] - a["time"] >= 0.24 for a, b in zip(slow[:-2], slow[1:-1], strict=True))
    assert slow[-1]["n"] == 40 and slow[-1]["total"] == 40 and slow[-1]["done"] is True
    assert slow[-1]["desc"] == "train" and slow[-1]["rate"] > 0
    assert all(not m["done"] for m in slow[:-1])
    assert [m["n"] for m in slow] == sorted(m["n"] for m in slow)
    assert len({m["bar"] for m in slow}) == 1 and slow[0]["type"] == "progress"
    assert len(fast) <= fast[-1]["elapsed"] / 0.25 + 2  # 200,000 steps, a handful of updates
    assert fast[-1]["n"] == 200_000 and fast[-1]["unit"] == "rows" and fast[-1]["done"]
    assert manual[-1]["n"] == 3 and manual[-1]["total"] == 10 and manual[-1]["done"] is True


async def test_progress_in_a_terminal_script(server: Any) -> None:
    env = {
        **os.environ,
        "JUPYTER_REALTIME_URL": server.http(),
        "JUPYTER_REALTIME_TOKEN": server.token,
    }
    code = (
        "from jupyter_realtime import progress\n"
        "for i in progress(range(30), channel='prog:script', mininterval=0): pass\n"
    )
    proc = await anyio.run_process([sys.executable, "-c", code], env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "30/30" in proc.stderr.decode() and "100%" in proc.stderr.decode()  # tqdm's text bar
    async with AsyncClient(server.http(), server.token) as client:
        last = (await client.channel("prog:script").history(limit=1))[0].data
    assert (last["n"], last["total"], last["done"]) == (30, 30, True)


async def test_enabled_for_every_kernel_by_ipython_config(
    server: Any, jp_fetch: Any, jp_serverapp: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    profile = tmp_path / "profile_default"
    profile.mkdir()
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["jupyter_realtime"]\n'
        'c.RealtimeMirror.channel = "config:all"\n'
    )
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))  # the kernel inherits the environment
    async with started_kernel(jp_fetch, jp_serverapp) as kernel:
        await execute(kernel, "print('mirrored by configuration')")
        shown = await execute(kernel, "%realtime mirror")
        assert text_of(shown).startswith("mirroring: 'config:all'; ")
        await execute(kernel, "%unload_ext jupyter_realtime")
        await execute(kernel, "print('after unload')")
        await execute(kernel, "%load_ext jupyter_realtime\n%realtime mirror config:all")
        await execute(kernel, "print('loaded again')")
        with anyio.fail_after(30):  # the last cell's output may land after the cell_ends
            while True:
                data = await mirrored(server, "config:all", n=3)
                texts = [d["text"] for d in data if d["type"] == "stream"]
                if "loaded again\n" in texts:
                    break
                await anyio.sleep(0.1)
    assert "mirrored by configuration\n" in texts and "loaded again\n" in texts
    assert "after unload\n" not in texts
