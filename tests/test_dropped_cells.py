"""A mirrored run longer than the channel's history: every viewer still names the cell and
shows its code (its ``cell_start``, kept by key), and says in one line that the cell's
earlier output was dropped. Here ``jupyter realtime watch`` as a subprocess, against a
server keeping 100 publications of history, after a run of 5,000 publications published as
the kernel's mirror publishes them (``cell_start`` with the key ``cell:<cell>``); the watch
page in Chromium: ``test_browser_keyed.py``."""

from __future__ import annotations

from typing import Any

import pytest
from test_cli_watch import Watcher

from jupyter_realtime.client import AsyncClient
from jupyter_realtime.client._cells import DROPPED, CellStarts, cell_key

pytestmark = pytest.mark.timeout(120)

CODE = "for i in range(5000):\n    print(i)"


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"history_size": 100, "broker_url": "memory://"}


def test_cell_keys_and_starts() -> None:
    assert cell_key("8c1f-aa_2") == "cell:8c1f-aa_2"
    assert cell_key("a b/é") == "cell:a_b/_" and len(cell_key("x" * 300)) == 200
    starts = CellStarts()
    assert starts.missing({"type": "cell_start", "cell": "a"}) is None
    assert starts.missing({"type": "stream", "cell": "a"}) is None  # seen to start
    assert starts.missing({"type": "stream", "cell": "b"}) == "b"
    assert starts.missing({"type": "stream", "cell": "b"}) is None  # said once
    assert starts.missing({"not": "mirrored"}) is None


async def mirrored_run(client: AsyncClient, channel: str, lines: int) -> None:
    """Two cells as the mirror publishes them: ``In [1]``, then ``In [2]`` with a finished
    progress bar (keyed by its id, as ``progress()`` publishes) printing ``lines`` lines,
    one publication each."""
    ch = client.channel(channel)
    for count, cell, code in ((1, "cell-one", "x = 1"), (2, "cell-two", CODE)):
        start = {"type": "cell_start", "cell": cell, "v": 1, "execution_count": count,
                 "code": code, "time": 0.0}  # fmt: skip
        await ch.publish(start, key=cell_key(cell))
        if count == 1:
            await ch.publish({"type": "cell_end", "cell": cell, "status": "ok",
                              "execution_count": 1, "duration": 0.1})  # fmt: skip
    bar = {"type": "progress", "bar": "b1", "desc": "prep", "n": 7, "total": 7, "unit": "it",
           "unit_scale": False, "rate": 7.0, "elapsed": 1.0, "eta": 0.0, "postfix": "",
           "done": True, "time": 0.0, "cell": "cell-two"}  # fmt: skip
    await ch.publish(bar, key="progress:b1")
    await ch.publish_many(
        {"type": "stream", "cell": "cell-two", "name": "stdout", "text": f"{i}\n"}
        for i in range(lines)
    )


async def test_the_terminal_watcher_says_the_cells_start_was_dropped(server: Any) -> None:
    channel = "long-run"
    async with AsyncClient(server.http(), server.token) as client:
        await mirrored_run(client, channel, 5000)
        watcher = await Watcher.start(server.http(), server.token, channel)
        try:
            await watcher.wait_for("4999\n")
            await watcher.wait_for(DROPPED, "err")
            await client.channel(channel).publish(
                {"type": "cell_end", "cell": "cell-two", "status": "ok",
                 "execution_count": 2, "duration": 9.0}  # fmt: skip
            )
            await watcher.wait_for("── In [2] ok in 9.0 s ──\n")
        finally:
            await watcher.stop()
    assert watcher.out == (
        "── In [2] ──\n   for i in range(5000):\n       print(i)\n"
        + "".join(f"{i}\n" for i in range(4900, 5000))
        + "── In [2] ok in 9.0 s ──\n"
    )
    assert watcher.err.count(f"[{DROPPED}]") == 1
    assert "prep: 100%" in watcher.err and "7/7" in watcher.err  # the bar, long out of history


async def test_a_real_mirror_keeps_the_header_and_the_bars_by_key_and_watch_says_dropped(
    server: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    """A kernel mirrors a cell with a progress bar; 150 later outputs of that cell push its
    start out of the 100 publications of history. Its ``cell_start`` and the bar's last state
    are still the latest of their keys, and ``%realtime watch`` in a second kernel shows the
    cell's header, its code and the dropped line."""
    from test_client_kernel import started_kernel
    from test_kernel_mirror import execute, mirrored, text_of

    code = 'from jupyter_realtime import progress\nfor _ in progress(range(3), desc="steps"):\n'
    code += "    print('step')"
    async with started_kernel(jp_fetch, jp_serverapp) as runner:
        await execute(runner, "%load_ext jupyter_realtime")
        await execute(runner, f"%%realtime mirror drop:log\n{code}")
        run = await mirrored(server, "drop:log")
    cell = run[0]["cell"]
    bar = next(m["bar"] for m in run if m["type"] == "progress")
    async with AsyncClient(server.http(), server.token) as client:
        ch = client.channel("drop:log")
        assert {m.key for m in await ch.history(1000) if m.data["type"] == "progress"} == {
            f"progress:{bar}"
        }
        await ch.publish_many(
            {"type": "stream", "cell": cell, "name": "stdout", "text": f"late {i}\n"}
            for i in range(150)
        )
        assert all(m.data["type"] == "stream" for m in await ch.history(1000))
        header = await ch.latest(cell_key(cell))
        assert header is not None and header.data["type"] == "cell_start"
        assert header.data["code"].rstrip() == code and header.data["execution_count"] >= 1
        last_state = await ch.latest(f"progress:{bar}")
        assert last_state is not None and last_state.data["n"] == 3 and last_state.data["done"]
    async with started_kernel(jp_fetch, jp_serverapp) as watcher:
        await execute(watcher, "%load_ext jupyter_realtime\n%realtime watch drop:log")
        shown = await execute(
            watcher, "from jupyter_realtime.kernel._watch import VIEWS\nprint(VIEWS[-1].text())"
        )
    text = text_of(shown)
    count = header.data["execution_count"]
    assert text.startswith(f"── In [{count}] ──\n{code}\n── {DROPPED} ──\nlate 50\n"), text
    assert text.endswith("late 149\n\n") and text.count(DROPPED) == 1  # print adds one
