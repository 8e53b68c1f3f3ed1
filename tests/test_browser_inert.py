"""What another user publishes stays inert in every browser view, in real Chromium.

A ``jupyter lab`` subprocess whose identity provider also knows ``mallory`` (her own token);
the watcher is the server's token holder. Mallory publishes the hostile HTML and SVG of
``tests/fixtures/mirrored_output.json`` (each payload tries to set ``window.__pwned``: a
``<script>``, ``onerror``/``onload``/``onmouseover`` handlers, ``javascript:`` links, an
``iframe``, an ``object``) and a header field that is HTML instead of an int. In
``%realtime watch`` (JupyterLab renders an ``Output`` widget's content as trusted), on the
watch page and in ``LiveLog`` the flag stays unset after the view has rendered, the links
are clicked and the handlers hovered; the safe markup (a table, an SVG rect) still renders.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import TOKEN, Lab, chromium, open_notebook, running_lab

pytestmark = pytest.mark.browser

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "mirrored_output.json").read_text()
)["hostile"]
HTML = next(c["value"] for c in FIXTURE if c["mime"] == "text/html")
SVG = next(c["value"] for c in FIXTURE if c["mime"] == "image/svg+xml")
MALLORY = "mallory-token"
COUNT = '<img src=x onerror="window.__pwned = 12">'

CONFIG = """
from jupyter_server.auth.identity import PasswordIdentityProvider, User


class MalloryToo(PasswordIdentityProvider):
    async def get_user_token(self, handler):
        if self.get_token(handler) == "mallory-token":
            return User(username="mallory")
        return await super().get_user_token(handler)


c.ServerApp.identity_provider_class = MalloryToo
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("inert")
    (tmp / "config").mkdir()
    (tmp / "config" / "jupyter_server_config.py").write_text(CONFIG)
    with running_lab(tmp) as lab:
        yield lab


def publish_as_mallory(lab: Lab, channel: str, data: Any) -> None:
    req = urllib.request.Request(
        f"{lab.url}realtime/api/channels/{channel}", data=json.dumps(data).encode(), method="POST"
    )
    req.add_header("Authorization", f"token {MALLORY}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as answer:
        assert answer.status == 200


def hostile_run(lab: Lab, channel: str, cell: str) -> None:
    send = lambda data: publish_as_mallory(lab, channel, data)  # noqa: E731
    send({"type": "cell_start", "cell": cell, "v": 1, "execution_count": COUNT})
    send({"type": "cell_start", "cell": cell, "v": 1, "execution_count": 3})
    send({"type": "display_data", "cell": cell, "metadata": {}, "display_id": "d1",
          "data": {"text/html": HTML, "text/plain": "html"}})  # fmt: skip
    send({"type": "display_data", "cell": cell, "metadata": {},
          "data": {"image/svg+xml": SVG, "text/plain": "svg"}})  # fmt: skip
    script = {"application/javascript": "window.__pwned = 13", "text/plain": "js"}
    send({"type": "execute_result", "cell": cell, "metadata": {}, "execution_count": 3,
          "data": script})  # fmt: skip
    send({"type": "stream", "cell": cell, "name": "stdout", "text": "after the payloads\n"})
    send({"type": "cell_end", "cell": cell, "status": COUNT, "execution_count": 3,
          "duration": 1.0})  # fmt: skip


# after rendering: click every link and hover every element of the view, then look
PROBE = """async scope => {
    const root = document.querySelector(scope);
    for (const el of root.querySelectorAll('a, div, span, td, img, svg, rect')) {
        el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
    }
    for (const a of root.querySelectorAll('a')) {
        a.click();
    }
    await new Promise(r => setTimeout(r, 1000));
    const all = sel => root.querySelectorAll(sel).length;
    return {
        pwned: window.__pwned ?? null,
        scripts: all('script'),
        handlers: all('[onerror], [onload], [onmouseover], [onclick]'),
        javascript: [...root.querySelectorAll('[href], [src], [data]')]
            .filter(e => /javascript:/i.test(e.getAttribute('href') || e.getAttribute('src')
                                             || e.getAttribute('data') || '')).length,
        frames: all('iframe, object, embed, foreignObject'),
        tables: [...root.querySelectorAll('table td')].map(td => td.textContent),
        rects: all('svg rect'),
        svgImages: all('img[src^="data:image/svg+xml"]'),
    };
}"""
SAFE = {"pwned": None, "scripts": 0, "handlers": 0, "javascript": 0, "frames": 0,
        "tables": ["cell-1"], "rects": 1, "svgImages": 0}  # fmt: skip


def sender_of_last(lab: Lab, channel: str) -> str:
    history = lab.get(f"realtime/api/channels/{channel}/history?limit=1")["publications"]
    return str(history[-1]["sender"])


@pytest.mark.timeout(300)
async def test_realtime_watch_in_jupyterlab_keeps_others_html_inert(lab: Lab) -> None:
    hostile_run(lab, "inert:watch", "h1")  # in the history the view starts from
    assert sender_of_last(lab, "inert:watch") == "mallory"
    name = lab.notebook("watcher.ipynb", "%load_ext jupyter_realtime",
                        "%realtime watch inert:watch")  # fmt: skip
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".some(o => o.innerText.includes('after the payloads'))",
            timeout=90_000,
        )
        hostile_run(lab, "inert:watch", "h2")  # and live
        await page.wait_for_function(
            "() => document.querySelectorAll('.jp-Notebook .jp-OutputArea-output table').length"
            " >= 2",
            timeout=30_000,
        )
        await page.wait_for_timeout(1000)
        found = await page.evaluate(PROBE, ".jp-Notebook")
        # JupyterLab shows an SVG as an <img> of its (sanitised) text
        assert found == {**SAFE, "tables": ["cell-1", "cell-1"], "rects": 0, "svgImages": 2}
        text = await page.inner_text(".jp-Notebook")
        assert "In [3]" in text and "execution_count" in text  # the bad header shown as text


async def test_watch_page_keeps_others_html_inert(lab: Lab) -> None:
    hostile_run(lab, "inert:page", "p1")
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{lab.url}realtime/watch/inert:page?token={TOKEN}")
        await page.locator(".rw-main .rw-html table td").wait_for(timeout=30_000)
        await page.locator(".rw-main .rw-svg svg rect").wait_for()
        found = await page.evaluate(PROBE, ".rw-main")
        assert found == SAFE
        # DOMPurify under the shared policy keeps and drops what nh3 does (the fixture's lists)
        for case in FIXTURE:
            selector = ".rw-html" if case["mime"] == "text/html" else ".rw-svg"
            markup = await page.inner_html(f".rw-main {selector}")
            assert all(kept in markup for kept in case["kept"]), markup
            assert not [gone for gone in case["gone"] if gone.lower() in markup.lower()], markup
        # a published status is shown as text, never as markup
        assert await page.inner_text(".rw-status") == f"In [3] {COUNT} in 1.0 s"
        assert await page.locator("header img, .rw-cell-header img").count() == 0


async def test_live_log_shows_others_html_as_text(lab: Lab) -> None:
    publish_as_mallory(lab, "inert:log", {"html": HTML})
    name = lab.notebook("log.ipynb", "from jupyter_realtime.widgets import LiveLog\n"
                        'LiveLog("inert:log")')  # fmt: skip
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        await page.locator(".jp-realtime-log-text").first.wait_for(timeout=60_000)
        publish_as_mallory(lab, "inert:log", {"svg": SVG})
        await page.wait_for_function(
            "() => document.querySelectorAll('.jp-realtime-log-text').length === 2"
        )
        found = await page.evaluate(PROBE, ".jp-realtime-log")
        assert found == {**SAFE, "tables": [], "rects": 0}
        shown = await page.locator(".jp-realtime-log-text").all_text_contents()
        assert "<script>window.__pwned = 8</script>" in shown[0]  # the text, as it was sent
        assert "<table" in shown[1]
