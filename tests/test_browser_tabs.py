"""Tab sharing of the browser client in a real browser: three pages of one browser context
share one connection to a ``jupyter server`` subprocess; closing the leader page hands the
connection to another page without losing or repeating a publication.

The client is compiled from ``labextension/src/client`` into a temporary directory with the
project's TypeScript compiler; the test page and the compiled modules are served on the
server's origin by Playwright's request routing (a page under ``/files/`` is sandboxed into
an opaque origin, where Web Locks, ``BroadcastChannel`` and the origin check do not work).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
LABEXT = ROOT / "labextension"
TSC = LABEXT / "node_modules" / ".bin" / "tsc"
CHANNEL = "tabs:test"
TOKEN = "tabs-test-token"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    *("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
    *("--no-first-run", "--disable-quic"),
]

if not TSC.exists():  # pragma: no cover - depends on the machine
    pytest.skip("the lab extension's node_modules are not installed", allow_module_level=True)
if not os.path.exists(CHROMIUM):  # pragma: no cover - depends on the machine
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>tabs</title>
<script type="module">
  import { connectShared } from './client/index.js';
  const token = new URLSearchParams(location.search).get('token');
  const client = connectShared('/', token);
  window.client = client;
  window.received = [];
  window.subscribed = false;
  client.subscribe('CHANNEL', event => {
    const publication = event.type === 'publication';
    window.received.push(publication ? event.data.n : event.type + '@' + event.offset);
  }).then(() => { window.subscribed = true; });
</script>
""".replace("CHANNEL", CHANNEL)


class Server:
    """A ``jupyter server`` with only this extension, on a free port."""

    def __init__(self, tmp: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"token {TOKEN}"})
        config = tmp / "config"
        config.mkdir()
        others = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
        extensions = {"jupyter_realtime": True, **dict.fromkeys(others, False)}
        (config / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": extensions}})
        )
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config)}
        env["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
        env["JUPYTER_DATA_DIR"] = str(tmp / "data")  # channels' database lives there
        args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={self.port}"]
        args += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--no-browser"]
        args += [f"--IdentityProvider.token={TOKEN}", "--allow-root", f"--ServerApp.root_dir={tmp}"]
        self.log = tmp / "server.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)

    def channels(self) -> list[dict[str, Any]]:
        answer = self.http.get("realtime/api/channels", timeout=10)
        answer.raise_for_status()
        return list(answer.json()["channels"])

    def publish(self, n: int) -> None:
        self.http.post(f"realtime/api/channels/{CHANNEL}", json={"n": n}).raise_for_status()

    def subscribers(self) -> int:
        return sum(c["subscribers"] for c in self.channels() if c["channel"] == CHANNEL)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert srv.proc.poll() is None, srv.log.read_text()[-3000:]
            try:
                srv.channels()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "jupyter server did not start"
                time.sleep(0.2)
        yield srv
    finally:
        srv.http.close()
        if srv.proc.poll() is None:
            os.kill(srv.proc.pid, signal.SIGTERM)
            try:
                srv.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(srv.proc.pid, signal.SIGKILL)
                srv.proc.wait()


@pytest.fixture
def compiled(tmp_path: Path) -> Path:
    """The client as ES modules, compiled from the sources."""
    out = tmp_path / "site" / "client"
    sources = sorted(str(p) for p in (LABEXT / "src" / "client").rglob("*.ts"))
    args = [str(TSC), "--outDir", str(out), "--rootDir", str(LABEXT / "src" / "client")]
    args += ["--target", "es2020", "--module", "esnext", "--moduleResolution", "node"]
    args += ["--lib", "es2022,dom,dom.iterable", "--strict", "--skipLibCheck", "--types", "node"]
    subprocess.run([*args, *sources], cwd=LABEXT, check=True, timeout=60)
    (out.parent / "index.html").write_text(PAGE)
    return out.parent


async def wait_until(predicate: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def test_three_tabs_share_one_connection_and_survive_the_leader(
    server: Server, compiled: Path
) -> None:
    prefix = f"{server.url}tabs-test/"

    async def serve(route: Any) -> None:
        path = compiled / route.request.url[len(prefix) :].split("?")[0]
        if not path.is_file():
            await route.fulfill(status=404, body="")
            return
        kind = "text/javascript" if path.suffix == ".js" else mimetypes.guess_type(path.name)[0]
        await route.fulfill(status=200, body=path.read_bytes(), content_type=kind or "text/plain")

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        await context.route(f"{prefix}**", serve)
        errors: list[str] = []
        pages = []
        for _ in range(3):
            page = await context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{prefix}index.html?token={TOKEN}")
            pages.append(page)

        async def received(page: Any) -> list[Any]:
            return list(await page.evaluate("window.received"))

        async def leaders(candidates: list[Any]) -> list[bool]:
            return [bool(await p.evaluate("window.client.isLeader")) for p in candidates]

        async def all_subscribed() -> bool:
            return all([await p.evaluate("window.subscribed") for p in pages])

        await wait_until(all_subscribed, "every page subscribed")
        assert await leaders(pages) == [True, False, False]
        assert server.subscribers() == 1, "one connection for the three pages"

        for n in range(1, 11):
            server.publish(n)
        # a follower publishes through the leader
        await pages[2].evaluate(f"window.client.publish('{CHANNEL}', {{n: 11}})")

        async def everyone_has(count: int, group: list[Any]) -> bool:
            return all([len(await received(p)) >= count for p in group])

        await wait_until(lambda: everyone_has(11, pages), "11 publications on every page")
        for page in pages:
            assert await received(page) == list(range(1, 12))

        # The leader goes away; what is published meanwhile reaches the others once.
        await pages[0].close()
        rest = pages[1:]
        for n in range(12, 17):
            server.publish(n)

        async def one_leader() -> bool:
            return sum(await leaders(rest)) == 1

        await wait_until(one_leader, "a new leader")
        for n in range(17, 21):
            server.publish(n)
        await wait_until(lambda: everyone_has(20, rest), "20 publications on both pages")
        await asyncio.sleep(0.3)
        for page in rest:
            assert await received(page) == list(range(1, 21))
        deadline = time.monotonic() + 10
        while server.subscribers() != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert server.subscribers() == 1, "still one connection after the leader change"
        assert errors == []
        await browser.close()
