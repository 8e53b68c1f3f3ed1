"""The widgets in Voilà dashboards, in headless Chromium (Playwright's async API).

Voilà's page shares far fewer modules than JupyterLab's; the lab extension's entry must load
there all the same (docs/widgets.md, "Voilà"). Covered:

- Voilà served by ``jupyter server`` (``/voila/render/NB.ipynb``) beside jupyter_realtime:
  LiveValue, LiveLog, Chat and SharedCell render, show what is published over REST, and
  the SharedCell's textarea (Voilà has no shared CodeMirror) edits the server's document.
- Standalone ``voila NB.ipynb`` (no ``/realtime`` routes): the views say plainly that there
  is no realtime server, and with the server named in ``VoilaConfiguration.extension_config``
  they go live against a Jupyter server of another origin.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from pycrdt import Doc, Text
from test_browser import TOKEN, chromium, free_port

from jupyter_realtime.client import AsyncClient
from jupyter_realtime.widgets._shared_doc import SharedDocument

# each starts one or two servers, a kernel and Chromium: more than the default 120 s under load
pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

pytest.importorskip("voila")

WIDGETS = """\
from jupyter_realtime.widgets import Chat, LiveLog, LiveValue
display(LiveValue("vo:value", key="v", label="v"), LiveLog("vo:log"), Chat("vo:chat"))
"""
SHARED_CELL = 'from jupyter_realtime.widgets import SharedCell\nSharedCell("vo:cell")'


def write_notebook(folder: Path, name: str, *sources: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, folder / name)
    return name


class Process:
    """A server subprocess (``jupyter server`` or ``voila``) on a free port of its own
    (``@PORT@`` and ``@ROOT@`` in its arguments stand for its port and root dir)."""

    def __init__(self, tmp: Path, args: list[str], port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.root = tmp / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
            "JUPYTER_DATA_DIR": str(tmp / "data"),
            "IPYTHONDIR": str(tmp / "ipython"),
        }
        for name in ("JUPYTER_REALTIME_URL", "JUPYTER_REALTIME_TOKEN"):
            self.env.pop(name, None)
        self.args = [
            a.replace("@PORT@", str(self.port)).replace("@ROOT@", str(self.root)) for a in args
        ]
        self.log_path = tmp / "server.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=self.log)

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            try:
                urllib.request.urlopen(self.url + path, timeout=5).close()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise TimeoutError(f"{self.args[:3]} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"token {TOKEN}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def publish(self, channel: str, data: Any) -> Any:
        return self.request("POST", f"realtime/api/channels/{channel}", data)

    def subscribers(self, channel: str) -> int:
        channels = self.request("GET", "realtime/api/channels")["channels"]
        return sum(c["subscribers"] for c in channels if c["channel"] == channel)


EXTENSIONS = {"jupyter_realtime": True, "voila.server_extension": True}


def jupyter_server_args(*extra: str) -> list[str]:
    """``jupyter server`` with jupyter_realtime and Voilà's server extension."""
    return [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", "--ServerApp.port=@PORT@", "--ServerApp.port_retries=0",
        "--ServerApp.root_dir=@ROOT@", f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.jpserver_extensions={EXTENSIONS!r}",
        *extra,
    ]  # fmt: skip


@contextmanager
def running(tmp: Path, args: list[str], ready: str, port: int = 0) -> Iterator[Process]:
    server = Process(tmp, args, port=port)
    try:
        server.wait_ready(ready)
        yield server
    finally:
        server.stop()


async def open_page(browser: Any, url: str) -> Any:
    page = await browser.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text[:500]))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(url)
    return page


async def wait_subscribed(server: Process, channel: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while server.subscribers(channel) == 0:
        assert time.monotonic() < deadline, f"nobody subscribed to {channel}"
        await asyncio.sleep(0.2)


async def shows_live_values(page: Any, server: Process) -> None:
    """The page's LiveValue, LiveLog and Chat show what ``server`` gets over REST."""
    value = page.locator(".jp-realtime-value-text")
    await value.wait_for()
    for channel in ("vo:value", "vo:log", "vo:chat"):
        await wait_subscribed(server, channel)
    server.publish("vo:value", {"v": "42.5"})
    server.publish("vo:log", "first line")
    server.publish("vo:chat", {"text": "hello from REST", "name": "ops"})
    await page.wait_for_function(
        "() => document.querySelector('.jp-realtime-value-text')?.textContent === '42.5'"
    )
    await page.locator(".jp-realtime-log-text", has_text="first line").wait_for()
    await page.locator(".jp-realtime-chat-message", has_text="hello from REST").wait_for()
    badge = page.locator(".jp-realtime-value .jp-realtime-badge")
    assert (await badge.get_attribute("data-state")) == "connected"


def server_text(server: Process, channel: str) -> str:
    doc: Doc = Doc()
    state = server.request("GET", f"realtime/api/documents/{channel}")
    doc.apply_update(base64.b64decode(state["update_b64"]))
    return str(doc.get("source", type=Text))


async def test_voila_under_jupyter_server_shows_live_widgets(tmp_path: Path) -> None:
    args = jupyter_server_args(f"--RealtimeApp.documents_dir={tmp_path / 'documents'}")
    with running(tmp_path, args, "api/status") as server:
        name = write_notebook(server.root, "dash.ipynb", WIDGETS, SHARED_CELL)
        async with chromium() as browser, AsyncClient(server.url, TOKEN) as client:
            page = await open_page(browser, f"{server.url}voila/render/{name}?token={TOKEN}")
            await shows_live_values(page, server)
            # the shared cell: Voilà shares no CodeMirror, so the textarea edits the text
            cell = page.locator(".jp-realtime-sharedcell[data-ready=true]")
            await cell.wait_for()
            assert (await cell.get_attribute("data-editor")) == "textarea"
            writer = SharedDocument(client, "vo:cell")
            await writer.start()
            writer.text += "x = 1\n"
            area = cell.locator("textarea")
            await page.wait_for_function(
                "() => document.querySelector('.jp-realtime-sharedcell textarea')?.value"
                " === 'x = 1\\n'"
            )
            await area.click()
            await page.keyboard.press("Control+End")
            await page.keyboard.type("y = 2")
            deadline = time.monotonic() + 15
            while server_text(server, "vo:cell") != "x = 1\ny = 2":
                assert time.monotonic() < deadline, server_text(server, "vo:cell")
                await asyncio.sleep(0.2)
            await writer.close()
            assert not [e for e in page.errors if "jupyter-realtime" in e], page.errors


def voila_args(name: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1", "--port=@PORT@",
        "--Voila.root_dir=@ROOT@", f"@ROOT@/{name}", *extra,
    ]  # fmt: skip


async def test_standalone_voila_says_there_is_no_realtime_server(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    name = write_notebook(root, "dash.ipynb", WIDGETS)
    with running(tmp_path, voila_args(name), "") as voila:
        async with chromium() as browser:
            page = await open_page(browser, voila.url)
            missing = page.locator(".jp-realtime-value .jp-realtime-badge[data-state=missing]")
            await missing.wait_for()
            text = await missing.text_content()
            assert text is not None and text.startswith(f"no realtime server at {voila.url}"), text
            assert "extensionConfig" in text  # says how to name one
            assert "javascript error" not in await page.inner_text("body")
            for view in ("log", "chat"):
                badge = f".jp-realtime-{view} .jp-realtime-badge[data-state=missing]"
                await page.locator(badge).wait_for()


async def test_standalone_voila_with_the_server_url_setting_goes_live(tmp_path: Path) -> None:
    realtime_dir = tmp_path / "realtime"
    realtime_dir.mkdir()
    voila_dir = tmp_path / "voila"
    (voila_dir / "root").mkdir(parents=True)
    name = write_notebook(voila_dir / "root", "dash.ipynb", WIDGETS)
    voila_port = free_port()
    origin = f"http://127.0.0.1:{voila_port}"
    args = jupyter_server_args(f"--ServerApp.allow_origin={origin}")
    with running(realtime_dir, args, "api/status") as server:
        config = {"jupyter-realtime": {"url": server.url, "token": TOKEN}}
        standalone = voila_args(name, f"--VoilaConfiguration.extension_config={json.dumps(config)}")
        with running(voila_dir, standalone, "", port=voila_port) as voila:
            async with chromium() as browser:
                page = await open_page(browser, voila.url)
                await shows_live_values(page, server)
