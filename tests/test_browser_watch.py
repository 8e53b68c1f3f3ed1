"""The watch page (``realtime/watch/<channel>``) in headless Chromium.

Mirrored messages (the format of ``docs/kernel.md``) are published through REST as a kernel
would publish them: the page shows the history on opening, then live messages; rich HTML is
sanitized (an ``onerror`` or ``<script>`` payload does not run); images, errors with their
tracebacks, ``update_display_data`` and ``clear_output`` apply; progress shows as a bar; the
page resumes without loss or repetition after its server restarts (a Redis broker keeps the
channel). The demo notebook runs its mirrored loop while a second notebook (``%realtime
watch`` and ``LiveProgress``) and the watch page follow it; that test takes the screenshots
``docs/images/watch-page.png`` and ``live-progress.png`` (written there with
``UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_browser import NOTEBOOKS, TOKEN, Lab, chromium, open_notebook, running_lab, screenshot

pytestmark = pytest.mark.browser

# a 1x1 red PNG
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)
CELL = "c-1"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A server whose ``extra_static_paths`` folder stands for a custom dashboard's pages."""
    tmp = tmp_path_factory.mktemp("watch")
    (tmp / "pages").mkdir()
    extra = (f"--ServerApp.extra_static_paths={[str(tmp / 'pages')]!r}",)
    with running_lab(tmp, extra=extra) as lab:
        lab.pages = tmp / "pages"  # type: ignore[attr-defined]
        yield lab


def cell_messages() -> list[dict[str, Any]]:
    return [
        {"type": "cell_start", "cell": CELL, "v": 1, "execution_count": 7,
         "code": "for epoch in range(3): ...", "time": 1764160000.1},
        {"type": "stream", "cell": CELL, "name": "stdout", "text": "epoch 0 loss 0.912\n"},
        {"type": "display_data", "cell": CELL, "data": {"image/png": PNG, "text/plain": "<Fig>"},
         "metadata": {}, "display_id": None},
        {"type": "display_data", "cell": CELL, "data": {"text/plain": "status: 0%"},
         "metadata": {}, "display_id": "d-1"},
        {"type": "progress", "cell": CELL, "bar": "b1", "desc": "train", "n": 40, "total": 100,
         "unit": "it", "unit_scale": False, "rate": 20.0, "elapsed": 2.0, "eta": 3.0,
         "postfix": "", "done": False, "time": 1764160002.1},
    ]  # fmt: skip


def page_state_js() -> str:
    return """() => ({
        text: document.querySelector('.rw-main').innerText,
        status: document.querySelector('.rw-status').textContent,
        source: document.querySelector('.rw-source').textContent,
        connection: document.querySelector('.rw-connection').textContent,
        images: [...document.querySelectorAll('.rw-main img.rw-image')].map(i => i.src),
        rows: [...document.querySelectorAll('.jp-realtime-progress-row')].map(r => ({
            bar: r.dataset.bar, n: r.dataset.n, total: r.dataset.total, done: r.dataset.done,
            text: r.innerText})),
        streams: [...document.querySelectorAll('.rw-stream')].map(s => s.textContent),
    })"""


async def open_watch(browser: Any, lab: Lab, channel: str, query: str = "") -> Any:
    page = await browser.new_page()
    page.set_default_timeout(20_000)
    await page.set_viewport_size({"width": 420, "height": 800})  # a phone's width
    page.on("console", lambda m: m.type == "error" and print("console:", m.text[:500]))
    await page.goto(f"{lab.url}realtime/watch/{channel}?token={TOKEN}{query}")
    return page


async def wait_text(page: Any, text: str, timeout: float = 20_000) -> None:
    await page.wait_for_function(
        "t => document.querySelector('.rw-main')?.innerText.includes(t)",
        arg=text,
        timeout=timeout,
    )


async def test_watch_page_shows_history_then_live(lab: Lab) -> None:
    channel = "watch-live"
    for msg in cell_messages():
        lab.publish(channel, msg)
    async with chromium() as browser:
        page = await open_watch(browser, lab, channel)
        await wait_text(page, "epoch 0 loss 0.912")
        await page.wait_for_function(
            "() => document.querySelector('.rw-connection')?.dataset.state === 'connected'"
        )
        state = await page.evaluate(page_state_js())
        assert "In [7]" in state["text"] and "status: 0%" in state["text"]
        assert state["images"] == [f"data:image/png;base64,{PNG}"]
        assert state["rows"][0]["n"] == "40" and state["rows"][0]["total"] == "100"
        assert "40/100" in state["rows"][0]["text"] and "ETA 00:03" in state["rows"][0]["text"]
        assert state["status"] == "In [7] running"
        # who publishes: the verified name the server stamped, as the widgets show it
        newest = lab.get(f"realtime/api/channels/{channel}/history?limit=1")["publications"]
        assert newest[0]["sender_name"] and state["source"] == f"from {newest[0]['sender_name']}"

        live = [
            {"type": "stream", "cell": CELL, "name": "stdout", "text": "epoch 1 loss 0.871\n"},
            {"type": "stream", "cell": CELL, "name": "stdout", "text": "step 1\rstep 2\n"},
            {"type": "update_display_data", "cell": CELL, "data": {"text/plain": "status: 100%"},
             "metadata": {}, "display_id": "d-1"},
            {"type": "error", "cell": CELL, "ename": "ValueError", "evalue": "boom",
             "traceback": ["\u001b[31mValueError\u001b[0m Traceback", "ValueError: boom"]},
            {"type": "progress", "cell": CELL, "bar": "b1", "desc": "train", "n": 100,
             "total": 100, "unit": "it", "rate": 25.0, "elapsed": 4.0, "eta": 0.0,
             "done": True, "time": 1764160004.1},
            {"type": "cell_end", "cell": CELL, "status": "error", "execution_count": 7,
             "duration": 4.0},
            {"not": "a mirrored message"},
        ]  # fmt: skip
        for msg in live:
            lab.publish(channel, msg)
        await wait_text(page, '{"not":"a mirrored message"}')
        state = await page.evaluate(page_state_js())
        assert state["streams"][0] == "epoch 0 loss 0.912\n"
        assert "epoch 1 loss 0.871\nstep 2\n" in state["streams"][1]
        assert "status: 100%" in state["text"] and "status: 0%" not in state["text"]
        assert "ValueError Traceback\nValueError: boom" in state["text"]  # ANSI stripped
        assert "\u001b" not in state["text"]
        assert state["rows"][0]["done"] == "true" and state["rows"][0]["n"] == "100"
        assert "done in 00:04" in state["rows"][0]["text"]
        assert state["status"] == "In [7] error in 4.0 s"
        assert await page.title() == "In [7] error in 4.0 s · watch-live"

        # clear_output(wait=True) removes the cell's outputs when the next one arrives
        lab.publish(channel, {"type": "clear_output", "cell": CELL, "wait": True})
        lab.publish(channel, {"type": "stream", "cell": CELL, "name": "stdout", "text": "fresh\n"})
        await wait_text(page, "fresh")
        state = await page.evaluate(page_state_js())
        assert "epoch 0" not in state["text"] and not state["images"]
        assert "In [7]" in state["text"]  # the cell's header stays

        # a page opened now shows the same thing from history alone
        again = await open_watch(browser, lab, channel)
        await wait_text(again, "fresh")
        replayed = await again.evaluate(page_state_js())
        assert replayed["text"] == (await page.evaluate(page_state_js()))["text"]


FOLLOW_JS = """() => {
    const s = document.scrollingElement, bar = document.querySelector('.jp-realtime-progress-row');
    const box = bar.getBoundingClientRect();
    return {top: s.scrollTop, bottom: s.scrollHeight - s.scrollTop - s.clientHeight,
            barInView: box.top >= 0 && box.bottom <= innerHeight,
            button: !!document.querySelector('.rw-follow:not([hidden])')};
}"""


def lines(start: int, stop: int) -> dict[str, Any]:
    text = "".join(f"line {i}\n" for i in range(start, stop))
    return {"type": "stream", "cell": CELL, "name": "stdout", "text": text}


async def test_watch_page_follows_new_output_and_keeps_the_bars_in_view(lab: Lab) -> None:
    channel = "follow:log"
    lab.publish(channel, cell_messages()[0])
    lab.publish(channel, cell_messages()[-1])  # a progress bar
    async with chromium() as browser:
        page = await open_watch(browser, lab, channel)
        await page.set_viewport_size({"width": 420, "height": 600})
        await wait_text(page, "In [7]")
        for start in range(0, 300, 50):  # arrives live: the page follows it down
            lab.publish(channel, lines(start, start + 50))
        await wait_text(page, "line 299")
        await page.wait_for_function(
            "() => document.scrollingElement.scrollTop > 1000", timeout=10_000
        )
        state = await page.evaluate(FOLLOW_JS)
        assert state["bottom"] <= 24 and state["barInView"] and not state["button"], state

        await page.mouse.move(200, 400)
        await page.mouse.wheel(0, -1500)  # the reader scrolls up to read: the page stays there
        await page.wait_for_function("() => !document.querySelector('.rw-follow').hidden")
        await page.wait_for_timeout(500)  # a smooth scroll ends
        read_at = (await page.evaluate(FOLLOW_JS))["top"]
        lab.publish(channel, lines(300, 400))
        await wait_text(page, "line 399")
        await page.wait_for_timeout(300)  # a frame or two for a scroll that must not come
        state = await page.evaluate(FOLLOW_JS)
        assert abs(state["top"] - read_at) <= 2 and state["bottom"] > 1000, (read_at, state)
        assert state["barInView"] and state["button"]  # the bars stay put (sticky)

        await page.mouse.wheel(0, 100_000)  # back down to the bottom: following again
        await page.wait_for_function("() => document.querySelector('.rw-follow').hidden")
        lab.publish(channel, lines(400, 500))
        await wait_text(page, "line 499")
        await page.wait_for_function(
            "() => { const s = document.scrollingElement;"
            " return s.scrollHeight - s.scrollTop - s.clientHeight <= 24; }"
        )
        assert (await page.evaluate(FOLLOW_JS))["barInView"]


async def test_watch_page_shows_the_history_asked_for(lab: Lab) -> None:
    channel = "watch-history"
    for i in range(5):
        lab.publish(channel, {"type": "stream", "cell": "h", "name": "stdout", "text": f"s{i}\n"})
    async with chromium() as browser:
        last_two = await open_watch(browser, lab, channel, "&history=2")
        live_only = await open_watch(browser, lab, channel, "&history=0")
        for page in (last_two, live_only):
            await page.wait_for_function(
                "() => document.querySelector('.rw-connection')?.dataset.state === 'connected'"
                " && document.querySelector('.rw-status').textContent !== 'loading'"
            )
        lab.publish(channel, {"type": "stream", "cell": "h", "name": "stdout", "text": "s5\n"})
        for page in (last_two, live_only):
            await wait_text(page, "s5")
        assert (await last_two.evaluate(page_state_js()))["streams"] == ["s3\ns4\ns5\n"]
        assert (await live_only.evaluate(page_state_js()))["streams"] == ["s5\n"]


PAYLOAD = (
    '<b class="kept">bold</b><img src="x" onerror="window.__pwned = 1">'
    "<script>window.__pwned = 2</script>"
    '<a href="javascript:window.__pwned = 3" id="link">link</a>'
)
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned = 4">'
    '<rect width="5" height="5"/></svg>'
)


async def test_watch_page_sanitizes_rich_html(lab: Lab) -> None:
    channel = "watch-xss"
    lab.publish(channel, {"type": "cell_start", "cell": "x", "v": 1, "execution_count": 1})
    lab.publish(channel, {"type": "display_data", "cell": "x", "metadata": {},
                          "data": {"text/html": PAYLOAD, "text/plain": "p"}})  # fmt: skip
    lab.publish(channel, {"type": "display_data", "cell": "x", "metadata": {},
                          "data": {"image/svg+xml": SVG, "text/plain": "svg"}})  # fmt: skip
    async with chromium() as browser:
        page = await open_watch(browser, lab, channel)
        await page.locator(".rw-html b.kept").wait_for()
        await page.locator(".rw-svg svg rect").wait_for()
        await page.click(".rw-html a")  # its id is gone too (an id names a window property)
        await page.wait_for_timeout(500)
        found = await page.evaluate(
            """() => ({
                pwned: window.__pwned,
                scripts: document.querySelectorAll('.rw-main script').length,
                onerror: [...document.querySelectorAll('.rw-main [onerror], .rw-main [onload]')]
                    .length,
                href: document.querySelector('.rw-html a').getAttribute('href'),
            })"""
        )
        assert found == {"pwned": None, "scripts": 0, "onerror": 0, "href": None}


async def test_watch_page_resumes_after_the_connection_drops(tmp_path: Path) -> None:
    from redis_fixtures import RedisServer

    redis = RedisServer(tmp_path)
    redis.start()
    extra = (f"--RealtimeApp.broker_url={redis.url}",)
    channel, server = "watch-resume", None
    try:
        server = Lab(tmp_path / "a", extra=extra)
        server.wait_ready()
        server.publish(channel, {"type": "cell_start", "cell": "r", "v": 1, "execution_count": 3})
        server.publish(channel, {"type": "stream", "cell": "r", "name": "stdout", "text": "a0\n"})
        async with chromium() as browser:
            page = await open_watch(browser, server, channel)
            await wait_text(page, "a0")
            server.stop()  # the connection drops ...
            await page.wait_for_function(
                "() => document.querySelector('.rw-connection').dataset.state !== 'connected'"
            )
            server = Lab(tmp_path / "a", extra=extra, port=server.port)
            server.wait_ready()
            for i in range(1, 6):  # ... and comes back; these may land before the page does
                server.publish(channel, {"type": "stream", "cell": "r", "name": "stdout",
                                         "text": f"a{i}\n"})  # fmt: skip
            await wait_text(page, "a5", timeout=60_000)
            await page.wait_for_timeout(500)  # anything repeated would show by now
            streams = (await page.evaluate(page_state_js()))["streams"]
            assert streams == ["".join(f"a{i}\n" for i in range(6))]
            assert "missed" not in await page.inner_text(".rw-main")
    finally:
        if server is not None:
            server.stop()
        redis.stop()


async def test_watch_page_marks_what_it_could_not_replay(tmp_path: Path) -> None:
    """A server restarted with the in-memory broker starts its channels over (a new epoch):
    the page says that output may have been missed, then shows what comes next."""
    memory = ("--RealtimeApp.broker_url=memory://",)
    channel, server = "watch-gap", Lab(tmp_path / "m", extra=memory)
    try:
        server.wait_ready()
        server.publish(channel, {"type": "stream", "cell": "g", "name": "stdout", "text": "old\n"})
        async with chromium() as browser:
            page = await open_watch(browser, server, channel)
            await wait_text(page, "old")
            server.stop()
            server = Lab(tmp_path / "m", extra=memory, port=server.port)
            server.wait_ready()
            server.publish(channel, {"type": "stream", "cell": "g", "name": "stdout",
                                     "text": "new\n"})  # fmt: skip
            await wait_text(page, "new", timeout=60_000)
            await page.locator(".rw-gap").wait_for()
            assert (await page.evaluate(page_state_js()))["streams"] == ["old\nnew\n"]
    finally:
        server.stop()


async def test_watch_page_with_the_login_cookie_over_polling(tmp_path: Path) -> None:
    """No token in the page's URL: the login cookie and ``_xsrf`` carry the HTTP session."""
    with running_lab(tmp_path, ("poll",)) as polling:
        polling.publish("watch-cookie", {"type": "stream", "cell": "k", "name": "stdout",
                                         "text": "before\n"})  # fmt: skip
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{polling.url}api/status?token={TOKEN}")  # logs in: the cookie
            await page.goto(f"{polling.url}realtime/watch/watch-cookie")
            await wait_text(page, "before")
            await page.wait_for_function(
                "() => document.querySelector('.rw-connection').textContent === 'live · poll'"
            )
            polling.publish("watch-cookie", {"type": "stream", "cell": "k", "name": "stdout",
                                             "text": "after\n"})  # fmt: skip
            await wait_text(page, "after")
            assert "token" not in page.url


async def test_the_client_module_can_be_imported_by_a_served_page(lab: Lab) -> None:
    """A page the server serves (here from ``extra_static_paths``, as a dashboard of another
    extension would be) imports the client as documented and receives publications."""
    pages: Path = lab.pages  # type: ignore[attr-defined]
    (pages / "dash.html").write_text(
        "<!doctype html><title>dash</title><pre id=out></pre>\n"
        '<script type="module">\n'
        "import { RealtimeClient } from '/realtime/static/realtime-client.js';\n"
        "const token = new URLSearchParams(location.search).get('token');\n"
        "const client = new RealtimeClient();\n"
        "client.connect('/', token);\n"
        "await client.subscribe('dash', e => {\n"
        "  if (e.type === 'publication') document.getElementById('out').textContent += "
        "JSON.stringify(e.data) + '\\n';\n"
        "});\n"
        "document.title = 'subscribed';\n"
        "</script>\n"
    )
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{lab.url}static/dash.html?token={TOKEN}")
        await page.wait_for_function("() => document.title === 'subscribed'")
        lab.publish("dash", {"x": 1})
        await page.wait_for_function(
            "() => document.getElementById('out').textContent === '{\"x\":1}\\n'"
        )


# -- the demo: a mirrored run watched from a second notebook and from the watch page --

ROW = "document.querySelector('{scope} .jp-realtime-progress-row')"


def watcher_notebook(lab: Lab) -> str:
    """A second notebook made of the demo's cells tagged ``watch``."""
    demo = nbformat.read(NOTEBOOKS / "mirror_and_watch.ipynb", as_version=4)
    cells = [c.source for c in demo.cells if "watch" in c.metadata.get("tags", [])]
    return lab.notebook("watcher.ipynb", "%load_ext jupyter_realtime", *cells)


@pytest.mark.timeout(300)
async def test_demo_run_is_watched_from_a_notebook_and_the_watch_page(lab: Lab) -> None:
    shutil.copy(NOTEBOOKS / "mirror_and_watch.ipynb", lab.root / "mirror_and_watch.ipynb")
    watcher = watcher_notebook(lab)
    async with chromium() as browser:
        second = await open_notebook(browser, lab, watcher)
        await second.locator(".jp-realtime-progress-empty").wait_for(timeout=60_000)
        page = await open_watch(browser, lab, "demo:train")
        await page.set_viewport_size({"width": 480, "height": 640})
        await page.wait_for_function(
            "() => document.querySelector('.rw-connection')?.dataset.state === 'connected'"
        )
        run = await open_notebook(browser, lab, "mirror_and_watch.ipynb")
        # mid-run: the bar moves in the second notebook and on the watch page
        mid = "r => r && Number(r.dataset.n) >= 24 && r.dataset.done === 'false'"
        await second.wait_for_function(f"() => ({mid})({ROW.format(scope='')})", timeout=90_000)
        await screenshot(second.locator(".jp-realtime-liveprogress").first, "live-progress.png")
        await page.wait_for_function(f"() => ({mid})({ROW.format(scope='')})")
        await wait_text(page, "checkpoint saved after epoch 19")
        await screenshot(page, "watch-page.png")

        done = "r => r && r.dataset.n === '60' && r.dataset.done === 'true'"
        await page.wait_for_function(f"() => ({done})({ROW.format(scope='')})", timeout=60_000)
        await wait_text(page, "epoch  59")
        await page.wait_for_function(
            "() => document.querySelector('.rw-status').textContent.startsWith('In [')"
            " && document.querySelector('.rw-status').textContent.includes(' ok in ')"
        )
        await second.wait_for_function(f"() => ({done})({ROW.format(scope='')})")
        # %realtime watch in the second notebook rebuilt the run's output in the kernel
        await second.wait_for_function(
            "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".some(o => o.innerText.includes('epoch  59') && o.innerText.includes('done'))"
        )
        # the demo's own LiveProgress, opened after the run, shows the final state at once
        await run.wait_for_function(f"() => ({done})({ROW.format(scope='')})", timeout=60_000)
        text = await run.inner_text(".jp-realtime-progress-row")
        assert "60/60" in text and "done in" in text
