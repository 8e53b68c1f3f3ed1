"""A refused edit never freezes its author, in Chromium, on every transport.

A lab with small limits (``max_message_size`` 4096, ``max_publish_rate`` 4/s with a burst of
12): a ``SharedCell`` view forced onto one transport pastes more than the size limit (or types
faster than the rate limit); the edit is refused, the view reloads the server's text (the
refused edit undone there), its status line says why, and what the author types next reaches
the server and another user (a pycrdt client) again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import TOKEN, Lab, chromium, running_lab
from test_browser_shared import (
    EDITOR,
    INSERT_JS,
    converged,
    open_cell,
    place_cursor,
    server_text,
    shared_cell,
    text,
)

from jupyter_realtime.client import AsyncClient
from jupyter_realtime.widgets._shared_doc import SharedDocument

pytestmark = pytest.mark.browser

STATUS = ".jp-realtime-sharedcell-status"
RESETS = "c => window.jupyterRealtimeCells.get(c)[0].resets"
NO_CHECK_JS = "c => { window.jupyterRealtimeCells.get(c)[0].maxMessageSize = 0; }"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp: Path = tmp_path_factory.mktemp("refused")
    options = (
        f"--RealtimeApp.documents_dir={tmp / 'documents'}",
        "--RealtimeApp.max_message_size=4096",
        "--RealtimeApp.max_publish_rate=4",
        "--RealtimeApp.publish_burst=12",
    )
    with running_lab(tmp, extra=options) as lab:
        yield lab


async def wait_for_reset(page: object, channel: str, resets: int = 1) -> None:
    await page.wait_for_function(  # type: ignore[attr-defined]
        f"c => window.jupyterRealtimeCells.get(c)[0].resets >= {resets}", arg=channel,
        timeout=30_000,
    )


@pytest.mark.parametrize("transport", ["ws", "sse", "stream", "poll"])
async def test_a_too_large_edit_is_undone_and_the_author_goes_on(
    lab: Lab, transport: str
) -> None:
    channel = f"big:{transport}"
    name = shared_cell(lab, f"big_{transport}.ipynb", channel, (transport,))
    async with chromium() as browser, AsyncClient(lab.url, TOKEN) as client:
        other = SharedDocument(client, channel)  # a second user, in Python
        await other.start()
        page = await open_cell(browser, lab, name)
        await place_cursor(page)
        await page.keyboard.type("start ", delay=80)
        assert await converged([page], channel, lab) == "start "
        # a paste over the limit, sent as by a client that does not check it first; over
        # WebSocket a frame over 4 x the limit + 64 KiB, which once closed the socket (1009)
        await page.evaluate(NO_CHECK_JS, channel)
        await page.evaluate(INSERT_JS, [channel, "x" * 200_000])
        await wait_for_reset(page, channel)
        status = page.locator(STATUS)
        assert await status.get_attribute("data-state") == "refused"
        assert "too_large" in (await status.text_content() or "")
        assert await text(page, channel) == "start "
        assert "x" not in await page.locator(EDITOR).inner_text()
        # not frozen: the next edits reach the server and the other user
        await place_cursor(page)
        await page.keyboard.type("after", delay=80)
        assert await converged([page], channel, lab) == "start after"
        for _ in range(100):
            if other.value == "start after":
                break
            await asyncio.sleep(0.1)
        assert other.value == "start after"
        # the view knows the limit: a paste over it is refused before it is sent
        await page.evaluate(INSERT_JS, [channel, "z" * 5000])
        await wait_for_reset(page, channel, 2)
        assert "too_large" in (await status.text_content() or "")
        assert await converged([page], channel, lab) == "start after"
        await other.close()


async def test_a_rate_limited_edit_is_undone_and_the_author_goes_on(lab: Lab) -> None:
    channel = "fast:ws"
    name = shared_cell(lab, "fast_ws.ipynb", channel, ("ws",))
    async with chromium() as browser:
        page = await open_cell(browser, lab, name)
        await place_cursor(page)
        await page.keyboard.type("abcdefghijklmnopqrstuvwxyz" * 2, delay=5)  # 52 publishes
        await wait_for_reset(page, channel)
        status = page.locator(STATUS)
        assert "rate_limited" in (await status.text_content() or "")
        await page.wait_for_timeout(3500)  # the bucket fills again
        reloaded = await text(page, channel)
        assert reloaded == server_text(lab, channel)  # what was accepted, nothing more
        assert len(reloaded) < 52
        await place_cursor(page)
        await page.keyboard.type("!", delay=50)
        assert await converged([page], channel, lab) == reloaded + "!"
        assert json.loads(json.dumps(await page.evaluate(RESETS, channel))) >= 1
