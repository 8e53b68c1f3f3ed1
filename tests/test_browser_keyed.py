"""Keyed publications in real Chromium, on a server keeping 20 publications of history.

``LiveValue(channel, key=...)``: a viewer who opens the notebook long after a keyed
publication (hundreds of others since) still sees the latest value of its key at once, and
each view follows only its own key live. The watch page, opened after a mirrored run of
5,000 publications, names the cell whose start is long gone (``In [2]``), shows its code
(its ``cell_start``, kept by key) and says in one line that its earlier output was dropped.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from test_browser import TOKEN, Lab, chromium, open_notebook, running_lab
from test_dropped_cells import mirrored_run

from jupyter_realtime.client import AsyncClient
from jupyter_realtime.client._cells import DROPPED

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def publish_keyed(lab: Lab, channel: str, data: Any, key: str | None = None) -> Any:
    query = f"?key={key}" if key else ""
    request = urllib.request.Request(
        f"{lab.url}realtime/api/channels/{channel}{query}",
        data=json.dumps(data).encode(),
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


VALUES = "() => [...document.querySelectorAll('.jp-realtime-value-text')].map(e => e.textContent)"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    extra = ("--RealtimeApp.history_size=20",)
    with running_lab(tmp_path_factory.mktemp("lab"), extra=extra) as lab:
        yield lab


async def test_the_watch_page_names_a_cell_whose_start_was_dropped(lab: Lab) -> None:
    async with AsyncClient(lab.url, TOKEN) as client:
        await mirrored_run(client, "long-run", 5000)
        async with chromium() as browser:
            page = await browser.new_page()
            page.set_default_timeout(30_000)
            await page.goto(f"{lab.url}realtime/watch/long-run?token={TOKEN}")
            await page.locator(".rw-dropped").wait_for()
            await page.wait_for_function(
                "() => document.querySelector('.rw-cell-label')?.textContent === 'In [2]'"
            )
            cells = await page.evaluate(
                """() => [...document.querySelectorAll('.rw-cell')].map(c => ({
                    label: c.querySelector('.rw-cell-label').textContent,
                    code: c.querySelector('.rw-code pre')?.textContent,
                    dropped: [...c.querySelectorAll('.rw-dropped')].map(d => d.textContent),
                    text: c.querySelector('.rw-stream')?.textContent}))"""
            )
            assert cells == [{
                "label": "In [2]", "code": "for i in range(5000):\n    print(i)",
                "dropped": [DROPPED], "text": "".join(f"{i}\n" for i in range(4980, 5000)),
            }]  # fmt: skip
            await client.channel("long-run").publish(
                {"type": "stream", "cell": "cell-two", "name": "stdout", "text": "live\n"}
            )
            await page.wait_for_function(
                "() => document.querySelector('.rw-stream').textContent.endsWith('live\\n')"
            )
            assert await page.locator(".rw-dropped").count() == 1
            # the bar's last state, long out of the history, read by its key
            row = page.locator(".jp-realtime-progress-row")
            assert await row.count() == 1 and await row.get_attribute("data-bar") == "b1"
            assert await row.get_attribute("data-n") == "7"


async def test_a_late_viewer_sees_the_latest_value_of_each_key(lab: Lab) -> None:
    publish_keyed(lab, "dash", {"load": 0.1}, key="cpu")
    publish_keyed(lab, "dash", {"load": 0.7}, key="cpu")
    publish_keyed(lab, "dash", "512 MB", key="mem")
    for n in range(200):
        publish_keyed(lab, "dash", {"tick": n})
    name = lab.notebook(
        "keyed.ipynb",
        "from jupyter_realtime.widgets import LiveValue\n"
        'display(LiveValue("dash", key="cpu"), LiveValue("dash", key="mem"))',
    )
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        await page.wait_for_function(
            f"() => JSON.stringify(({VALUES})()) === "
            + repr(json.dumps(['{"load":0.7}', "512 MB"], separators=(",", ":"))),
            timeout=60_000,
        )
        publish_keyed(lab, "dash", "640 MB", key="mem")
        publish_keyed(lab, "dash", {"tick": "x"})
        await page.wait_for_function(
            f"() => ({VALUES})()[1] === '640 MB'", timeout=10_000
        )
        assert (await page.evaluate(VALUES))[0] == '{"load":0.7}'


async def test_live_log_names_a_cell_whose_start_was_dropped(lab: Lab) -> None:
    async with AsyncClient(lab.url, TOKEN) as client:
        await mirrored_run(client, "log-run", 100)
    name = lab.notebook(
        "log.ipynb", 'from jupyter_realtime.widgets import LiveLog\nLiveLog("log-run")'
    )
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        dropped = page.locator(".jp-realtime-dropped")
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-dropped .jp-realtime-log-text')"
            "?.textContent.startsWith('In [2]')"
        )
        assert await dropped.count() == 1
        assert await dropped.locator(".jp-realtime-log-text").text_content() == (
            f"In [2] · {DROPPED}"
        )
        assert await dropped.locator("pre").text_content() == "for i in range(5000):\n    print(i)"
        # newest first: the line sits under the cell's oldest output still in the history
        items = page.locator(".jp-realtime-log-list li")
        assert await items.count() == 21
        assert await items.nth(19).text_content() is not None
        assert "80" in (await items.nth(19).locator(".jp-realtime-log-text").text_content() or "")
        assert await items.nth(20).get_attribute("class") == "jp-realtime-dropped"


async def test_live_progress_shows_a_bar_long_out_of_the_history(lab: Lab) -> None:
    async with AsyncClient(lab.url, TOKEN) as client:
        await mirrored_run(client, "bar-run", 60)
    name = lab.notebook(
        "bars.ipynb", 'from jupyter_realtime.widgets import LiveProgress\nLiveProgress("bar-run")'
    )
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        await page.wait_for_function(
            "() => document.querySelectorAll('.jp-realtime-progress-row').length === 1"
        )
        row = page.locator(".jp-realtime-progress-row")
        assert await row.get_attribute("data-bar") == "b1"
        assert await row.get_attribute("data-done") == "true"
