"""``jupyter realtime watch CHANNEL`` as a subprocess against real servers.

Mirrored messages (``docs/kernel.md``) are published through REST as a kernel would: the
watcher prints the history first, then live output; progress becomes a tqdm bar on stderr;
after its server restarts (a Redis broker keeps the channel) it goes on where it stopped,
printing nothing twice and missing nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

JUPYTER = str(Path(sys.executable).with_name("jupyter"))


class Watcher:
    """``jupyter realtime watch`` running, with what it printed so far."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out = self.err = ""
        self._tasks = [asyncio.ensure_future(self._read(name)) for name in ("out", "err")]

    @classmethod
    async def start(cls, url: str, token: str, *args: str) -> Watcher:
        env = {**os.environ, "JUPYTER_REALTIME_URL": url, "JUPYTER_REALTIME_TOKEN": token}
        env["COLUMNS"] = "100"
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(
            JUPYTER, "realtime", "watch", *args, stdout=pipe, stderr=pipe, env=env
        )
        return cls(proc)

    async def _read(self, name: str) -> None:
        stream = self.proc.stdout if name == "out" else self.proc.stderr
        assert stream is not None
        while chunk := await stream.read(4096):
            setattr(self, name, getattr(self, name) + chunk.decode())

    async def wait_for(self, text: str, where: str = "out", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in getattr(self, where):
            assert self.proc.returncode is None, f"exited: {self.err}"
            assert time.monotonic() < deadline, f"{text!r} not in {getattr(self, where)!r}"
            await asyncio.sleep(0.1)

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.proc.wait(), 15)
        await asyncio.gather(*self._tasks)
        return code


def progress(n: int, done: bool = False) -> dict[str, Any]:
    return {"type": "progress", "bar": "b1", "desc": "train", "n": n, "total": 100,
            "unit": "it", "unit_scale": False, "rate": 20.0, "elapsed": n / 20,
            "eta": (100 - n) / 20, "postfix": "", "done": done, "time": time.time()}  # fmt: skip


async def test_watch_prints_history_then_live_output_and_a_progress_bar(server: Any) -> None:
    channel = "cli-watch"
    history = [
        {"type": "cell_start", "cell": "c", "v": 1, "execution_count": 4, "code": "..."},
        {"type": "stream", "cell": "c", "name": "stdout", "text": "epoch 0\n"},
        {"type": "display_data", "cell": "c", "metadata": {}, "display_id": None,
         "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480>"}},
        {"type": "display_data", "cell": "c", "metadata": {}, "display_id": None,
         "data": {"image/png": "A" * 4000}},
        progress(40),
    ]  # fmt: skip
    live = [
        {"type": "stream", "cell": "c", "name": "stdout", "text": "epoch 1\n"},
        {"type": "stream", "cell": "c", "name": "stderr", "text": "warning: slow\n"},
        {"type": "error", "cell": "c", "ename": "ValueError", "evalue": "boom",
         "traceback": ["\u001b[31mValueError\u001b[0m: boom"]},
        progress(100, done=True),
        {"type": "cell_end", "cell": "c", "status": "error", "execution_count": 4,
         "duration": 5.0},
        {"not": "mirrored"},
    ]  # fmt: skip
    url = server.http("realtime/api/channels", channel)
    async with httpx.AsyncClient(headers=server.headers) as http:
        for msg in history:
            (await http.post(url, json=msg)).raise_for_status()
        watcher = await Watcher.start(server.http(), server.token, channel)
        try:
            await watcher.wait_for("<Figure size 640x480>\n[image/png, 3.9 KiB]\n")
            await watcher.wait_for("40/100", "err")
            for msg in live:
                (await http.post(url, json=msg)).raise_for_status()
            await watcher.wait_for('{"not":"mirrored"}')
            await watcher.wait_for("100/100", "err")
        finally:
            code = await watcher.stop()
    assert code == 130, watcher.err
    assert watcher.out == (
        "── In [4] ──\nepoch 0\n<Figure size 640x480>\n[image/png, 3.9 KiB]\n"
        "epoch 1\n── In [4] error in 5.0 s ──\n"
        '{"not":"mirrored"}\n'
    )
    assert "warning: slow\n" in watcher.err
    assert "ValueError: boom\n" in watcher.err and "\u001b" not in watcher.err  # not a tty
    assert "train:  40%" in watcher.err and "train: 100%" in watcher.err


TABLE_HTML = (  # as pandas writes a DataFrame's text/html
    '<div><table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">'
    "\n      <th></th>\n      <th>model</th>\n      <th>loss</th>\n    </tr>\n  </thead>\n"
    "  <tbody>\n    <tr>\n      <th>0</th>\n      <td>resnet&amp;co</td>\n      <td>0.912</td>"
    "\n    </tr>\n    <tr>\n      <th>1</th>\n      <td>vit</td>\n      <td>12.5</td>\n"
    "    </tr>\n  </tbody>\n</table>\n</div>"
)


async def test_watch_prints_html_outputs_as_text(server: Any) -> None:
    # IPython.display.HTML gives only its repr as text/plain: the watcher printed
    # `<IPython.core.display.HTML object>`; a table is now printed as aligned columns
    channel = "cli-watch:html"
    shown = [
        {"type": "display_data", "cell": "c", "metadata": {}, "display_id": None,
         "data": {"text/html": TABLE_HTML, "text/plain": "<IPython.core.display.HTML object>"}},
        {"type": "display_data", "cell": "c", "metadata": {}, "display_id": None,
         "data": {"text/html": "<h3>Results</h3><p>best <b>loss</b>:<br>0.31</p>"}},
        {"type": "execute_result", "cell": "c", "metadata": {}, "execution_count": 5,
         "data": {"text/html": TABLE_HTML, "text/plain": "   model  loss\n0  resnet  0.912"}},
    ]  # fmt: skip
    url = server.http("realtime/api/channels", channel)
    async with httpx.AsyncClient(headers=server.headers) as http:
        for msg in shown:
            (await http.post(url, json=msg)).raise_for_status()
        watcher = await Watcher.start(server.http(), server.token, channel)
        try:
            await watcher.wait_for("0.912\n", timeout=30)
            await watcher.wait_for("resnet  0.912\n")
        finally:
            await watcher.stop()
    assert watcher.out == (
        "   model       loss\n"
        "0  resnet&co  0.912\n"
        "1  vit         12.5\n"
        "Results\nbest loss:\n0.31\n"
        "   model  loss\n0  resnet  0.912\n"  # its own text/plain, as pandas aligned it
    )
    assert "IPython.core.display.HTML" not in watcher.out


@pytest.mark.redis
@pytest.mark.timeout(180)
async def test_watch_resumes_after_its_server_restarts(tmp_path: Path) -> None:
    from redis_fixtures import TOKEN, JupyterProcess, RedisServer

    redis = RedisServer(tmp_path)
    redis.start()
    server = JupyterProcess(tmp_path, redis.url)
    watcher = None
    channel = "cli-resume"

    def say(text: str) -> None:
        msg = {"type": "stream", "cell": "r", "name": "stdout", "text": text}
        answer = httpx.post(server.http(f"realtime/api/channels/{channel}"), json=msg,
                            headers=server.headers)  # fmt: skip
        answer.raise_for_status()

    try:
        server.start()
        say("line 0\n")
        watcher = await Watcher.start(server.http(""), TOKEN, channel)
        await watcher.wait_for("line 0\n")
        server.stop()  # the watcher's connection drops
        await asyncio.sleep(1)
        server.start()
        for i in range(1, 6):
            say(f"line {i}\n")
        await watcher.wait_for("line 5\n", timeout=60)
        await asyncio.sleep(1)  # anything repeated would show by now
        assert watcher.out == "".join(f"line {i}\n" for i in range(6))
        assert "missed" not in watcher.err
    finally:
        if watcher is not None:
            await watcher.stop()
        server.stop()
        redis.stop()
