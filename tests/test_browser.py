"""The lab extension and the widgets in a real browser: headless Chromium (Debian's) driven by
Playwright's async API against ``jupyter lab`` subprocesses started here.

Covers: JupyterLab loads the extension (status-bar item); a ``LiveValue`` updates after a REST
publish while the kernel is busy; the client falls back to SSE and to polling when the server
disables the better transports and still receives every publication in order; two browser
contexts share a ``ChannelLink`` slider; the demo notebooks run top to bottom; views resume
after a server restart. It also takes the screenshots of ``docs/images/`` (written there with
``UPDATE_SCREENSHOTS=1``) and prints the latency from a REST publish to the DOM (``-s``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN = "browser-test-token"
ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
NOTEBOOKS = ROOT / "notebooks"
SCRATCH = Path(tempfile.gettempdir()) / "jupyter-realtime-screenshots"

if not os.path.exists(CHROMIUM):  # pragma: no cover - depends on the machine
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    """A ``jupyter lab`` (or Notebook 7) subprocess with its own port, token and directories."""

    def __init__(
        self,
        tmp: Path,
        transports: tuple[str, ...] = (),
        app: str = "jupyterlab",
        extra: tuple[str, ...] = (),
        port: int | None = None,
    ) -> None:
        self.app = app
        self.port = port or free_port()
        self.root = tmp / "root"
        self.url = f"http://127.0.0.1:{self.port}/"
        self.root.mkdir(parents=True, exist_ok=True)
        settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        self.env = {
            **os.environ,
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
            "JUPYTER_DATA_DIR": str(tmp / "data"),  # shared cells' snapshots live there
            "IPYTHONDIR": str(tmp / "ipython"),
        }
        for name in ("JUPYTER_REALTIME_URL", "JUPYTER_REALTIME_TOKEN"):
            self.env.pop(name, None)
        frontend = "LabApp" if app == "jupyterlab" else "JupyterNotebookApp"
        args = [
            sys.executable, "-m", app, "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={TOKEN}", "--expose-app-in-browser",
            f"--{frontend}.user_settings_dir={tmp / 'settings'}",
            f"--{frontend}.workspaces_dir={tmp / 'workspaces'}",
            "--ServerApp.jpserver_extensions={'jupyter_realtime': True}",
        ]  # fmt: skip
        args += [f"--RealtimeApp.transports={t}" for t in transports]
        args += extra
        self.log = (tmp / "lab.log").open("wb")
        self.proc = subprocess.Popen(args, env=self.env, stdout=self.log, stderr=self.log)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "jupyter lab exited; see lab.log"
            try:
                self.get("api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise TimeoutError("jupyter lab did not start")

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

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def publish(self, channel: str, data: Any) -> Any:
        return self.request("POST", f"realtime/api/channels/{channel}", data)

    def subscribers(self, channel: str) -> int:
        channels = self.get("realtime/api/channels")["channels"]
        return sum(c["subscribers"] for c in channels if c["channel"] == channel)

    def page_url(self, name: str) -> str:
        """The URL that opens notebook ``name``; in JupyterLab, in a workspace of its own
        (so that a page does not reopen what another page had open)."""
        if self.app != "jupyterlab":
            return f"{self.url}notebooks/{name}?token={TOKEN}"
        workspace = name.replace(".ipynb", "").replace("/", "-")
        return f"{self.url}lab/workspaces/{workspace}/tree/{name}?token={TOKEN}"

    def notebook(self, name: str, *sources: str) -> str:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
        nbformat.write(nb, self.root / name)
        return name


@contextmanager
def running_lab(tmp: Path, transports: tuple[str, ...] = (), **options: Any) -> Iterator[Lab]:
    lab = Lab(tmp, transports, **options)
    try:
        lab.wait_ready()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_notebook(browser_or_context: Any, lab: Lab, name: str) -> Any:
    """A page with notebook ``name`` open, its kernel ready and every cell queued to run."""
    page = await browser_or_context.new_page()
    page.set_default_timeout(30_000)
    await page.set_viewport_size({"width": 1100, "height": 900})
    page.on("console", lambda m: m.type == "error" and print("console:", m.text[:500]))
    await page.goto(lab.page_url(name))
    await page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext",
        timeout=60_000,
    )
    await page.evaluate(
        """async () => {
            const p = window.jupyterapp.shell.currentWidget;
            await p.context.ready;
            await p.sessionContext.ready;
            await p.sessionContext.session.kernel.info;
            // not awaited: it resolves only when every cell has run
            void window.jupyterapp.commands.execute('notebook:run-all-cells');
        }"""
    )
    return page


# The kernel's status is no sign of a running cell (ipykernel 7 answers the widget manager's
# comm_info requests concurrently, with busy/idle of their own): the cell's prompt is.
CELL_RUNNING = "() => document.querySelectorAll('.jp-InputPrompt')[{}]?.textContent === '[*]:'"


async def cell_running(page: Any, index: int) -> bool:
    return bool(await page.evaluate(CELL_RUNNING.format(index)))


async def wait_until(condition: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def screenshot(element: Any, name: str) -> None:
    """Into ``docs/images/`` with ``UPDATE_SCREENSHOTS=1`` (they hold times of day, so a plain
    test run leaves the committed ones alone), else into a temporary directory."""
    folder = IMAGES if os.environ.get("UPDATE_SCREENSHOTS") == "1" else SCRATCH
    folder.mkdir(parents=True, exist_ok=True)
    await element.screenshot(path=str(folder / name))


async def text_of(page: Any, selector: str) -> str:
    return str(await page.locator(selector).first.text_content())


# -- JupyterLab, LiveValue while the kernel is busy, latency --

LATENCY_JS = """async ({channel, token, count}) => {
    const el = document.querySelector('.jp-realtime-value-text');
    const samples = [];
    for (let i = 0; i < count; i++) {
        const want = `lat-${i}`;
        const seen = new Promise(resolve => {
            const obs = new MutationObserver(() => {
                if (el.textContent === want) { obs.disconnect(); resolve(performance.now()); }
            });
            obs.observe(el, {childList: true, characterData: true, subtree: true});
        });
        const t0 = performance.now();
        await fetch(`/realtime/api/channels/${channel}`, {
            method: 'POST',
            headers: {'Authorization': `token ${token}`, 'Content-Type': 'application/json'},
            body: JSON.stringify({v: want}),
        });
        samples.push((await seen) - t0);
        await new Promise(r => setTimeout(r, 50));
    }
    return samples;
}"""


async def latency(page: Any, channel: str, transport: str, count: int) -> None:
    """Print (and bound) the time from a REST publish by the page to the LiveValue's DOM."""
    args = {"channel": channel, "token": TOKEN, "count": count}
    samples = sorted(await page.evaluate(LATENCY_JS, args))
    median, p95 = statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
    print(
        f"\nREST publish -> LiveValue DOM over {transport}, {len(samples)} samples: "
        f"median {median:.1f} ms, p95 {p95:.1f} ms, max {samples[-1]:.1f} ms"
    )
    assert median < 500


async def test_live_value_updates_while_the_kernel_is_busy(lab: Lab) -> None:
    name = lab.notebook(
        "busy.ipynb",
        'from jupyter_realtime.widgets import LiveValue\nLiveValue("busy", key="v", label="v")',
        "import time\ntime.sleep(60)  # interrupted by the test",
    )
    lab.publish("busy", {"v": "before"})  # a view opened later starts from the latest value
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        status = page.locator(".jp-realtime-status")
        await status.wait_for()
        value = page.locator(".jp-realtime-value-text")
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-value-text')?.textContent === 'before'"
        )
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-status')?.textContent.includes('live')"
        )
        assert (await status.text_content()) == "Realtime: live · ws"
        await page.wait_for_function(CELL_RUNNING.format(1))
        lab.publish("busy", {"v": 42})
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-value-text')?.textContent === '42'",
            timeout=5_000,
        )
        assert await cell_running(page, 1)  # the update did not go through the kernel
        assert await text_of(page, ".jp-realtime-badge") == "live · ws"

        await latency(page, "busy", "ws", 30)
        lab.publish("busy", {"v": 187.42})
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-value-text')?.textContent === '187.42'"
        )
        await screenshot(value.locator("xpath=.."), "live-value.png")
        await screenshot(status, "status-bar.png")
        await page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.interrupt()"
        )


# -- fallback to SSE and to polling: every publication, in order --


@pytest.mark.parametrize(
    ("transports", "expected"),
    [(("sse", "stream", "poll"), "sse"), (("poll",), "poll")],
    ids=["no-websocket", "polling-only"],
)
async def test_falls_back_and_keeps_order(
    tmp_path: Path, transports: tuple[str, ...], expected: str
) -> None:
    with running_lab(tmp_path, transports) as lab:
        name = lab.notebook(
            "order.ipynb",
            "from jupyter_realtime.widgets import LiveLog, LiveValue\n"
            'display(LiveLog("order", max_items=100), LiveValue("lat", key="v"))',
        )
        async with chromium() as browser:
            page = await open_notebook(browser, lab, name)
            await page.locator(".jp-realtime-log").wait_for()
            await page.wait_for_function(
                f"() => document.querySelector('.jp-realtime-badge')?.textContent"
                f" === 'live · {expected}'",
            )
            count = 40
            for i in range(count):
                lab.publish("order", {"n": i})
            await page.wait_for_function(
                f"() => document.querySelectorAll('.jp-realtime-log-list li').length === {count}",
                timeout=20_000,
            )
            texts = await page.locator(".jp-realtime-log-text").all_text_contents()
            offsets = await page.eval_on_selector_all(
                ".jp-realtime-log-list li", "items => items.map(li => Number(li.dataset.offset))"
            )
            assert texts == [
                json.dumps({"n": i}, separators=(",", ":")) for i in reversed(range(count))
            ]
            assert offsets == list(range(count, 0, -1))
            status = await text_of(page, ".jp-realtime-status")
            assert status == f"Realtime: live · {expected}"
            await latency(page, "lat", expected, 20)


# -- the status bar and closing a notebook --

STATUS = "() => document.querySelector('.jp-realtime-status')?.textContent"


async def close_notebook(page: Any) -> None:
    """Save the current notebook (so that no dialog asks) and close its tab."""
    await page.evaluate(
        """async () => {
            const p = window.jupyterapp.shell.currentWidget;
            await p.context.save();
            await window.jupyterapp.commands.execute('application:close');
        }"""
    )
    await page.wait_for_function("() => document.querySelectorAll('.jp-Notebook').length === 0")


# -- two browsers, one slider --

LINK_CELL = (
    "from ipywidgets import IntSlider\n"
    "from jupyter_realtime.widgets import ChannelLink\n"
    'slider = IntSlider(description="knob", max=100)\n'
    'link = ChannelLink(slider, "value", channel="knob")\n'
    "slider"
)


async def set_slider(page: Any, value: int) -> None:
    readout = page.locator(".widget-readout").first
    await readout.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.type(str(value))
    await page.keyboard.press("Enter")


async def wait_slider(page: Any, value: int) -> None:
    await page.wait_for_function(
        f"() => document.querySelector('.widget-readout')?.textContent === '{value}'",
        timeout=10_000,
    )


async def test_two_browsers_share_a_channel_link_slider(lab: Lab) -> None:
    # Two notebooks, two kernels: the slider can only be shared through the channel.
    first = lab.notebook("link_a.ipynb", LINK_CELL)
    second = lab.notebook("link_b.ipynb", LINK_CELL)
    async with chromium() as browser:
        one, two = await browser.new_context(), await browser.new_context()
        a = await open_notebook(one, lab, first)
        b = await open_notebook(two, lab, second)
        for page in (a, b):
            await page.locator(".widget-readout").first.wait_for()
            await page.wait_for_function(
                "() => document.querySelector('.jp-realtime-status')?.textContent"
                " === 'Realtime: live · ws'"
            )
        # both links subscribed (their models may come a moment after the slider's view)
        await wait_until(lambda: lab.subscribers("knob") == 2)
        await set_slider(a, 37)
        await wait_slider(b, 37)
        await set_slider(b, 12)
        await wait_slider(a, 12)
        lab.publish("knob", {"value": 80})  # any producer moves both
        await wait_slider(a, 80)
        await wait_slider(b, 80)
        await a.wait_for_timeout(500)  # no feedback loop: nothing more was published
        history = lab.get("realtime/api/channels/knob/history?limit=100")["publications"]
        assert [p["data"]["value"] for p in history] == [37, 12, 80]
        await screenshot(b.locator(".jp-OutputArea-output").first, "channel-link.png")


async def test_the_readme_channel_link_cell_shows_the_live_slider(lab: Lab) -> None:
    # the README's cell as it is, and a link shown with display()
    name = lab.notebook(
        "link_readme.ipynb",
        "from ipywidgets import IntSlider\n"
        "from jupyter_realtime.widgets import ChannelLink\n"
        'slider = IntSlider(); ChannelLink(slider, "value", channel="knob-readme")',
        'link = ChannelLink(IntSlider(), channel="knob-display")\ndisplay(link)',
    )
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        outputs = page.locator(".jp-OutputArea-output")
        for index in (0, 1):
            link = outputs.nth(index).locator(".jp-realtime-link")
            await link.locator(".widget-slider").wait_for()
            await link.locator(".jp-realtime-badge", has_text="live · ws").wait_for()
        texts = await page.locator(".jp-OutputArea-output").all_text_contents()
        assert not any("ChannelLink(" in text for text in texts), texts
        await wait_until(lambda: lab.subscribers("knob-readme") == 1)
        lab.publish("knob-readme", {"value": 42})  # live: the shown slider moves
        await page.wait_for_function(
            "() => document.querySelector('.widget-readout')?.textContent === '42'"
        )
        await page.wait_for_function(f"() => ({STATUS})() === 'Realtime: live · ws'")
        assert await page.locator(".jp-realtime-status").get_attribute("data-connections") == "1"
        await close_notebook(page)
        await page.wait_for_function(f"() => ({STATUS})() === 'Realtime: idle'")
        await wait_until(lambda: lab.subscribers("knob-readme") == 0)


# -- LiveLog, LiveChart and Chat: history when opened, live after, screenshots --


async def test_log_chart_and_chat_show_history_then_live(lab: Lab) -> None:
    for text in ["disk 81% full", "job 17 done", "new login: alice", "cpu > 90% for 5 min"]:
        lab.publish("alerts", {"level": "info", "text": text})
    for step in range(60):
        loss = round(2.0 * 0.95**step + 0.05, 4)
        lab.publish(
            "train:metrics", {"step": step, "loss": loss, "accuracy": round(1 - loss / 2.2, 4)}
        )
    lab.publish("ml-team", {"text": "Training run 7 is up", "name": "Ada"})
    lab.publish("ml-team", {"text": "Loss looks good so far", "name": "Grace"})
    name = lab.notebook(
        "gallery.ipynb",
        "from jupyter_realtime.widgets import Chat, LiveChart, LiveLog\n"
        'LiveLog("alerts", max_items=200, height="150px")',
        'LiveChart("train:metrics", x="step", y=["loss", "accuracy"], window=100, height=200)',
        'Chat("ml-team", name="Linus", height="120px")',
    )
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        count = "() => document.querySelectorAll('{}').length === {}"
        await page.wait_for_function(count.format(".jp-realtime-log-list li", 4))
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-chart')?.dataset.points === '60'"
        )
        await page.wait_for_function(count.format(".jp-realtime-chat-message", 2))
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-chat-people')?.textContent"
            ".startsWith('1 here')"
        )
        first = await page.locator(".jp-realtime-log-text").first.text_content()
        assert first == '{"level":"info","text":"cpu > 90% for 5 min"}'  # newest first

        # live: a publication from elsewhere, and a message typed in the chat
        lab.publish("alerts", {"level": "warn", "text": "<b>not bold</b>"})
        await page.wait_for_function(count.format(".jp-realtime-log-list li", 5))
        assert "<b>not bold</b>" in str(
            await page.locator(".jp-realtime-log-text").first.text_content()
        )
        assert await page.locator(".jp-realtime-log b").count() == 0  # text, never HTML
        for step in range(60, 80):
            loss = round(2.0 * 0.95**step + 0.05, 4)
            lab.publish(
                "train:metrics", {"step": step, "loss": loss, "accuracy": round(1 - loss / 2.2, 4)}
            )
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-chart')?.dataset.points === '80'"
        )
        chat_input = page.locator(".jp-realtime-chat-form input")
        await chat_input.fill("Nice, shipping it")
        await chat_input.press("Enter")
        await page.wait_for_function(count.format(".jp-realtime-chat-message", 3))
        history = lab.get("realtime/api/channels/ml-team/history?limit=10")["publications"]
        assert history[-1]["data"] == {"text": "Nice, shipping it", "name": "Linus"}

        outputs = page.locator(".jp-OutputArea-output")
        await screenshot(outputs.nth(0), "live-log.png")
        await screenshot(outputs.nth(1), "live-chart.png")
        await screenshot(outputs.nth(2), "chat.png")


# -- the demo notebooks run top to bottom --


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
async def test_demo_notebook_runs(lab: Lab, name: str, tmp_path: Path, monkeypatch: Any) -> None:
    from nbclient import NotebookClient

    # what a kernel started by the server gets from the extension, and the CLI on PATH
    monkeypatch.setenv("JUPYTER_REALTIME_URL", lab.url)
    monkeypatch.setenv("JUPYTER_REALTIME_TOKEN", TOKEN)
    monkeypatch.setenv("PATH", lab.env["PATH"])
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    await client.async_execute()  # raises on the first cell that fails
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error"
            if output.get("name") == "stderr":
                raise AssertionError(f"{name}: stderr: {output['text']}")
    if name == "external_producers.ipynb":
        history = lab.get("realtime/api/channels/ticker/history?limit=10")["publications"]
        sources = [p["data"]["source"] for p in history]
        assert sources == ["curl", "cli", "loop", "loop", "loop"]


async def test_transports_notebook_shows_each_transport_live(lab: Lab) -> None:
    shutil.copy(NOTEBOOKS / "transports.ipynb", lab.root / "transports.ipynb")
    async with chromium() as browser:
        page = await open_notebook(browser, lab, "transports.ipynb")
        badges = page.locator(".jp-realtime-value .jp-realtime-badge")
        await page.wait_for_function(
            "() => document.querySelectorAll('.jp-realtime-value-latency').length === 5"
            " && [...document.querySelectorAll('.jp-realtime-value-latency')]"
            ".every(e => e.textContent.endsWith(' ms'))",
            timeout=60_000,
        )
        labels = await badges.all_text_contents()
        assert labels == ["live · ws", "live · sse", "live · stream", "live · poll", "live · ws"]
        await screenshot(page.locator(".jp-OutputArea-output").first, "transports.png")
        # the status bar counts the page's live connections, forced ones included: one per
        # transport (the picker's view shares the first view's)
        status = page.locator(".jp-realtime-status")
        every = "Realtime: 4 live · ws, sse, stream, poll"
        await page.wait_for_function(f"() => ({STATUS})() === '{every}'")
        assert await status.get_attribute("data-state") == "connected"
        assert await status.get_attribute("data-connections") == "4"
        await close_notebook(page)
        await page.wait_for_function(f"() => ({STATUS})() === 'Realtime: idle'")
        await wait_until(lambda: lab.subscribers("latency") == 0)


async def test_notebook_7_shows_live_widgets(tmp_path: Path) -> None:
    pytest.importorskip("notebook")
    with running_lab(tmp_path, app="notebook") as nb7:
        name = nb7.notebook(
            "nb7.ipynb",
            'from jupyter_realtime.widgets import LiveValue\nLiveValue("nb7", key="v")',
            "import time\ntime.sleep(60)  # interrupted by the test",
        )
        nb7.publish("nb7", {"v": "before"})
        async with chromium() as browser:
            page = await open_notebook(browser, nb7, name)
            text = "() => document.querySelector('.jp-realtime-value-text')?.textContent === '{}'"
            await page.wait_for_function(text.format("before"))
            await page.wait_for_function(CELL_RUNNING.format(1))
            nb7.publish("nb7", {"v": "live"})
            await page.wait_for_function(text.format("live"), timeout=5_000)
            assert await text_of(page, ".jp-realtime-badge") == "live · ws"


async def test_dashboard_notebook_updates_while_its_loop_runs(lab: Lab) -> None:
    shutil.copy(NOTEBOOKS / "dashboard.ipynb", lab.root / "dashboard.ipynb")
    async with chromium() as browser:
        page = await open_notebook(browser, lab, "dashboard.ipynb")
        # while the loop runs (the kernel is busy) the chart keeps moving
        points = "() => document.querySelector('.jp-realtime-chart')?.dataset.points"
        await page.wait_for_function(CELL_RUNNING.format(3))  # cells: md, code, md, loop
        seen = set()
        while await cell_running(page, 3) and len(seen) < 3:
            seen.add(await page.evaluate(points))
            await page.wait_for_timeout(300)
        assert len(seen) >= 3, f"the chart did not move while the loop ran: {seen}"
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-log-text')?.textContent"
            ".includes('run finished')"
        )
        await screenshot(page.locator(".jp-OutputArea-output").first, "dashboard.png")


# -- a server restart: the views resume from where they were --


@pytest.mark.redis
async def test_views_resume_after_a_server_restart(tmp_path: Path) -> None:
    from redis_fixtures import RedisServer

    redis = RedisServer(tmp_path)
    redis.start()
    shared = (f"--RealtimeApp.broker_url={redis.url}",)
    try:
        with running_lab(tmp_path / "b", extra=shared) as other:
            first = Lab(tmp_path / "a", extra=shared)
            try:
                first.wait_ready()
                name = first.notebook(
                    "resume.ipynb",
                    'from jupyter_realtime.widgets import LiveLog\nLiveLog("resume")',
                )
                async with chromium() as browser:
                    page = await open_notebook(browser, first, name)
                    items = "() => document.querySelectorAll('.jp-realtime-log-list li').length"
                    badge = "() => document.querySelector('.jp-realtime-badge')?.textContent"
                    await page.wait_for_function(f"() => ({badge})() === 'live · ws'")
                    first.publish("resume", {"n": 0})
                    await page.wait_for_function(f"() => ({items})() === 1")

                    first.stop()  # the page's server goes away ...
                    await page.wait_for_function(f"() => ({badge})() === 'reconnecting'")
                    for n in range(1, 6):  # ... while another server takes publications
                        other.publish("resume", {"n": n})
                    again = Lab(tmp_path / "a", extra=shared, port=first.port)
                    first = again
                    again.wait_ready()
                    await page.wait_for_function(f"() => ({items})() === 6", timeout=30_000)
                    again.publish("resume", {"n": 6})
                    await page.wait_for_function(f"() => ({items})() === 7")
                    texts = await page.locator(".jp-realtime-log-text").all_text_contents()
                    assert texts == [f'{{"n":{n}}}' for n in range(6, -1, -1)]
                    assert await page.locator(".jp-realtime-gap").count() == 0
            finally:
                first.stop()
    finally:
        redis.stop()
