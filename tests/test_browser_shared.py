"""Shared cells in real browsers: headless Chromium driven by Playwright against ``jupyter
lab`` subprocesses (the helpers of ``test_browser.py``).

Two browser contexts type into the same ``SharedCell`` at once, one of them forced onto long
polling, while a Python client writes too: all converge to the same text with every keystroke
once, and the others' cursors carry their Jupyter names and leave with them (at once, or
after the awareness timeout for a page that went silent). A late joiner gets everything; a
reader without ``publish`` gets a read-only editor; an offline edit is merged once on
reconnect; a restart of the server keeps the text; ordinary notebook cells share and join
through the lab commands; and the keystroke latency between browsers is printed (``-s``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from test_browser import TOKEN, Lab, chromium, open_notebook, running_lab, screenshot

from jupyter_realtime.client import AsyncClient
from jupyter_realtime.widgets._shared_doc import SharedDocument

pytestmark = pytest.mark.browser

RULES = [{"channels": "ro:*", "publish": ["somebody-else"]}]
CELL = 'from jupyter_realtime.widgets import SharedCell\nSharedCell("{channel}"{extra})'
TEXT_JS = """channel => {
    const cells = window.jupyterRealtimeCells?.get(channel) ?? [];
    return cells.length ? cells[0].text.toString() : null;
}"""
EDITOR = ".jp-realtime-sharedcell[data-ready=true] .cm-content"
INSERT_JS = """([channel, words]) => {
    const text = window.jupyterRealtimeCells.get(channel)[0].text;
    text.insert(text.length, words);
}"""


def lab_options(tmp: Path) -> dict[str, Any]:
    return {"extra": (f"--RealtimeApp.channel_rules={json.dumps(RULES)}",)}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("shared")
    with running_lab(tmp, **lab_options(tmp)) as lab:
        yield lab


def shared_cell(lab: Lab, name: str, channel: str, transports: tuple[str, ...] = ()) -> str:
    extra = f", transports={list(transports)!r}" if transports else ""
    return lab.notebook(name, CELL.format(channel=channel, extra=extra))


async def open_cell(context: Any, lab: Lab, name: str) -> Any:
    page = await open_notebook(context, lab, name)
    await page.locator(EDITOR).wait_for(timeout=60_000)
    return page


async def text(page: Any, channel: str) -> str:
    return str(await page.evaluate(TEXT_JS, channel))


async def converged(pages: list[Any], channel: str, lab: Lab, timeout: float = 30) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        texts = {await text(page, channel) for page in pages}
        texts.add(server_text(lab, channel))
        if len(texts) == 1:
            return texts.pop()
        assert asyncio.get_running_loop().time() < deadline, texts
        await asyncio.sleep(0.2)


def server_text(lab: Lab, channel: str) -> str:
    """The server's document, as a late joiner loads it."""
    doc: Doc = Doc()
    doc.apply_update(base64.b64decode(lab.get(f"realtime/api/documents/{channel}")["update_b64"]))
    return str(doc.get("source", type=Text))


async def place_cursor(page: Any, line: int | None = None) -> None:
    """At the end of the text, or of its line ``line`` (from 0)."""
    await page.locator(EDITOR).click()
    if line is None:
        await page.keyboard.press("Control+End")
    else:
        await page.keyboard.press("Control+Home")
        for _ in range(line):
            await page.keyboard.press("ArrowDown")
        await page.keyboard.press("End")


async def type_into(page: Any, words: list[str], *, at_end: bool = True) -> None:
    if at_end:
        await place_cursor(page)
    for word in words:
        await page.keyboard.type(word, delay=15)


async def test_two_browsers_and_a_python_client_converge(lab: Lab) -> None:
    channel = "pair:test"
    first = shared_cell(lab, "pair_a.ipynb", channel)
    second = shared_cell(lab, "pair_b.ipynb", channel, ("poll",))
    async with chromium() as browser, AsyncClient(lab.url, TOKEN) as client:
        a = await open_cell(await browser.new_context(), lab, first)
        b = await open_cell(await browser.new_context(), lab, second)
        writer = SharedDocument(client, channel)
        await writer.start()
        # each typist on a line of their own: keystrokes at one spot may interleave
        writer.text += "A:\nB:"
        await converged([a, b], channel, lab)

        async def python_writes() -> None:
            for i in range(10):
                writer.text.insert(0, f"#py{i}\n")
                await asyncio.sleep(0.1)

        words_a = [f" <a{i}>" for i in range(15)]
        words_b = [f" <b{i}>" for i in range(15)]
        await place_cursor(a, 0)
        await place_cursor(b, 1)
        await asyncio.gather(
            type_into(a, words_a, at_end=False), type_into(b, words_b, at_end=False),
            python_writes(),
        )
        final = await converged([a, b], channel, lab)
        for token in [*words_a, *words_b, *(f"#py{i}\n" for i in range(10))]:
            assert final.count(token) == 1, (token, final)
        assert writer.value == final
        # the other editor's cursor, labelled with the Jupyter user's name
        label = a.locator(".cm-ySelectionInfo").first
        await label.wait_for(state="attached")
        name = await b.evaluate("c => window.jupyterRealtimeCells.get(c)[0].user.name", channel)
        assert name and await label.text_content() == name
        # b selects what it typed: a sees the selection, and the name on the caret
        await b.keyboard.press("Shift+Home")
        await a.locator(".cm-ySelection").first.wait_for()
        await a.locator(".cm-ySelectionCaret").first.hover()
        await a.wait_for_timeout(600)  # the label fades in
        await screenshot(a.locator(".jp-realtime-sharedcell").first, "shared-cell.png")

        # a late joiner gets everything at once
        late_context = await browser.new_context()
        late_cell = shared_cell(lab, "pair_c.ipynb", channel)
        late = await open_cell(late_context, lab, late_cell)
        assert await text(late, channel) == final
        await writer.close()
        # those who leave take their cursors with them at once (the page announces it)
        carets = "() => document.querySelectorAll('.cm-ySelectionInfo').length"
        await a.wait_for_function(f"() => ({carets})() === 1")  # b's; late never focused
        started = time.monotonic()
        await late.goto("about:blank")
        await b.goto("about:blank")
        await a.wait_for_function(f"() => ({carets})() === 0")
        assert time.monotonic() - started < 10  # not the 30 s after which silence counts


async def test_reader_without_publish_gets_a_read_only_editor(lab: Lab) -> None:
    async with AsyncClient(lab.url, TOKEN) as client:
        doc = SharedDocument(client, "ro:notes")
        await doc.start()
        assert doc.writable is False
    name = shared_cell(lab, "ro.ipynb", "ro:notes")
    async with chromium() as browser:
        page = await open_cell(browser, lab, name)
        cell = page.locator(".jp-realtime-sharedcell").first
        assert await cell.get_attribute("data-readonly") == "true"
        assert await page.locator(EDITOR).get_attribute("contenteditable") == "false"
        await page.locator(EDITOR).click()
        await page.keyboard.type("nope")
        await page.wait_for_timeout(500)
        assert await text(page, "ro:notes") == ""


async def test_a_shared_cell_shows_its_connection_in_a_badge(lab: Lab) -> None:
    # as every realtime view does; under the editor, so that it hides no code
    name = lab.notebook(
        "badge.ipynb",
        "from jupyter_realtime.widgets import SharedCell\n"
        'display(SharedCell("badge:a"), SharedCell("badge:b", transports=["poll"]))',
    )
    async with chromium() as browser:
        page = await open_notebook(browser, lab, name)
        await page.locator(EDITOR).nth(1).wait_for(timeout=60_000)
        cells = page.locator(".jp-realtime-sharedcell")
        for index, label in enumerate(["live · ws", "live · poll"]):
            badge = cells.nth(index).locator(".jp-realtime-badge")
            await badge.filter(has_text=label).wait_for()
            assert await badge.get_attribute("data-state") == "connected"
            assert await badge.get_attribute("title") == (
                f"badge:{'ab'[index]}: Live over {'websocket' if index == 0 else 'poll'}"
            )
            editor = await cells.nth(index).locator(".jp-realtime-sharedcell-editor").bounding_box()
            box = await badge.bounding_box()
            assert editor and box and box["y"] >= editor["y"] + editor["height"]


async def test_an_offline_edit_is_merged_once(lab: Lab) -> None:
    channel = "offline:test"
    # on long polling every exchange is a new request, which offline mode refuses
    name = shared_cell(lab, "off_a.ipynb", channel, ("poll",))
    async with chromium() as browser:
        one, two = await browser.new_context(), await browser.new_context()
        a = await open_cell(one, lab, name)
        b = await open_cell(two, lab, shared_cell(lab, "off_b.ipynb", channel))
        await type_into(a, ["shared "])
        await converged([a, b], channel, lab)
        await one.set_offline(True)
        # an edit of a's document as its editor makes them (Jupyter may open a "connection
        # lost" dialog that takes the keyboard focus while offline)
        await a.evaluate(INSERT_JS, [channel, "offline "])
        await type_into(b, ["online "])
        await a.wait_for_timeout(1000)
        assert "offline" not in await text(b, channel)  # it really was offline
        await one.set_offline(False)
        final = await converged([a, b], channel, lab, timeout=60)
        for word in ("shared ", "offline ", "online "):
            assert final.count(word) == 1, final
        merges = "c => window.jupyterRealtimeCells.get(c)[0].merges"
        assert await a.evaluate(merges, channel) >= 2  # the first load's, and the return's
        # a client that goes silent (closed without a word) loses its cursor after 30 s
        carets = "() => document.querySelectorAll('.cm-ySelectionInfo').length"
        await a.wait_for_function(f"() => ({carets})() === 1")
        await two.close()
        await a.wait_for_function(f"() => ({carets})() === 0", timeout=60_000)


async def test_restart_keeps_the_text(tmp_path: Path) -> None:
    channel = "restart:test"
    first = Lab(tmp_path, **lab_options(tmp_path))
    try:
        first.wait_ready()
        name = shared_cell(first, "restart.ipynb", channel)
        async with chromium() as browser:
            page = await open_cell(browser, first, name)
            await type_into(page, ["kept across a restart"])
            before = await converged([page], channel, first)
            first.stop()
            first = Lab(tmp_path, port=first.port, **lab_options(tmp_path))
            first.wait_ready()
            assert server_text(first, channel) == before  # from the snapshot
            late = await browser.new_context()
            again = await open_cell(late, first, name)
            assert await converged([page, again], channel, first) == before
    finally:
        first.stop()


SOURCE_JS = (
    "() => window.jupyterapp.shell.currentWidget.content.widgets[0]"
    ".model.sharedModel.getSource()"
)
COMMAND_JS = """async ([command, channel]) => {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    notebook.activeCellIndex = 0;
    await window.jupyterapp.commands.execute(command, channel ? {channel} : {});
}"""


async def test_share_and_join_an_ordinary_cell(lab: Lab) -> None:
    first = lab.notebook("share_a.ipynb", "total = 1 + 2")
    second = lab.notebook("share_b.ipynb", "something else")
    async with chromium() as browser:
        a = await open_notebook(await browser.new_context(), lab, first)
        b = await open_notebook(await browser.new_context(), lab, second)
        await a.evaluate(COMMAND_JS, ["jupyter-realtime:share-cell", "cells:demo"])
        await b.evaluate(COMMAND_JS, ["jupyter-realtime:join-cell", "cells:demo"])
        assert await b.evaluate(SOURCE_JS) == "total = 1 + 2"
        assert server_text(lab, "cells:demo") == "total = 1 + 2"
        editor = b.locator(".jp-realtime-shared-cell .cm-content").first
        await editor.click()
        await b.keyboard.press("End")
        await b.keyboard.type(" + 3", delay=20)
        await a.wait_for_function(f"() => ({SOURCE_JS})() === 'total = 1 + 2 + 3'")
        # unbinding leaves the text as it is, and the cell goes its own way
        await a.evaluate(COMMAND_JS, ["jupyter-realtime:stop-sharing-cell", ""])
        assert await a.locator(".jp-realtime-shared-cell").count() == 0
        await b.keyboard.type(" + 4", delay=20)
        await a.wait_for_timeout(1000)
        assert await a.evaluate(SOURCE_JS) == "total = 1 + 2 + 3"
        assert server_text(lab, "cells:demo") == "total = 1 + 2 + 3 + 4"


WATCH_JS = """channel => {
    window.seen = [];
    window.jupyterRealtimeCells.get(channel)[0].text.observe(
        () => window.seen.push(performance.timeOrigin + performance.now()));
}"""
KEYS_JS = """() => {
    window.sent = [];
    document.addEventListener(
        'keydown', () => window.sent.push(performance.timeOrigin + performance.now()), true);
}"""


async def test_keystroke_latency_between_browsers(lab: Lab) -> None:
    """From a key pressed in one browser to the text changed in another, over WebSocket and
    over long polling (both on one machine, so their clocks agree); printed with ``-s``."""
    channel = "latency:test"
    count = 60
    async with chromium() as browser:
        writer = shared_cell(lab, "lat_a.ipynb", channel)
        a = await open_cell(await browser.new_context(), lab, writer)
        readers = {
            "ws": await open_cell(await browser.new_context(), lab,
                                  shared_cell(lab, "lat_ws.ipynb", channel, ("ws",))),
            "poll": await open_cell(await browser.new_context(), lab,
                                    shared_cell(lab, "lat_poll.ipynb", channel, ("poll",))),
        }
        for page in readers.values():
            await page.evaluate(WATCH_JS, channel)
        await a.evaluate(KEYS_JS)
        await a.locator(EDITOR).click()
        for i in range(count):
            await a.keyboard.type("abcdefghij"[i % 10])
            await a.wait_for_timeout(60)
        await converged([a, *readers.values()], channel, lab)
        sent = await a.evaluate("() => window.sent")
        for transport, page in readers.items():
            seen = await page.evaluate("() => window.seen")
            assert len(seen) == len(sent) == count
            samples = sorted(shown - pressed for pressed, shown in zip(sent, seen, strict=True))
            p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1]
            print(f"\nkeystroke -> other browser over {transport}: p50 {p50:.1f} ms, "
                  f"p99 {p99:.1f} ms, max {samples[-1]:.1f} ms ({count} keys)")
            assert p50 < 500
