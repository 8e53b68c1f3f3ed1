"""Names nobody can forge, shown the same everywhere: two people in one JupyterLab (two
browser contexts, each logged in as its own Jupyter user), one of them hostile, and the
notebook's kernel, all on one chat channel. Headless Chromium against a ``jupyter lab``
subprocess (the helpers of ``test_browser.py``).

The hostile user posts with ``fetch`` (not the widget) a message whose ``name`` claims to be
"teacher" and carries HTML. The other user's Chat and LiveLog show the server-verified
display name as the author, the claimed name only beside it and as text; her presence chip
and Chat show the same name for the same user; the kernel's message shows as
"alice's kernel (room.ipynb)". A shared cell's cursor is labelled with the verified name of
whoever published it, even when that page puts "teacher" in its awareness state.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from test_browser import Lab, chromium, open_notebook, running_lab

pytestmark = pytest.mark.browser

OWNER = "alice"  # the server's user: its kernels publish as her
FORGED = 'teacher<img src=x onerror="window.pwned=1">'
MESSAGES = ".jp-realtime-chat-message"

HOSTILE_POST = """async ([channel, text, name]) => {
    const xsrf = document.cookie.split('; ').find(c => c.startsWith('_xsrf='))?.slice(6) ?? '';
    const answer = await fetch(`/realtime/api/channels/${channel}`, {
        method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-XSRFToken': decodeURIComponent(xsrf)},
        body: JSON.stringify({text, name, sender: 'teacher', sender_name: 'teacher'}),
    });
    return [answer.status, await answer.text()];
}"""

ME = """async () => (await (await fetch('/api/me')).json()).identity"""

ROW_JS = """text => {
    const row = [...document.querySelectorAll('.jp-realtime-chat-message')]
        .find(r => r.textContent.includes(text));
    if (!row) return null;
    const q = s => row.querySelector(s);
    return {
        author: q('.jp-realtime-author')?.textContent ?? null,
        sender: q('.jp-realtime-author')?.dataset.sender ?? null,
        label: q('.jp-realtime-label')?.textContent ?? null,
        who: q('.jp-realtime-who')?.textContent ?? null,
        elements: row.querySelectorAll('img, script').length,
    };
}"""

LOG_JS = """text => {
    const item = [...document.querySelectorAll('.jp-realtime-log-list li')]
        .find(li => li.textContent.includes(text));
    return item ? item.querySelector('.jp-realtime-author')?.textContent ?? null : null;
}"""

CHIPS_JS = """() => [...document.querySelectorAll('.jp-realtime-chat-person')]
    .map(c => c.textContent)"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("names")
    with running_lab(tmp, extra=(f"--RealtimeApp.token_user={OWNER}",)) as lab:
        yield lab


async def row(page: Any, text: str) -> dict[str, Any]:
    await page.wait_for_function(f"() => ({ROW_JS})({text!r}) !== null")
    found: dict[str, Any] = await page.evaluate(ROW_JS, text)
    return found


async def test_chat_and_log_show_the_verified_sender_and_a_forged_name_only_beside_it(
    lab: Lab,
) -> None:
    room = lab.notebook(
        "room.ipynb",
        "from jupyter_realtime.widgets import Chat, LiveLog\n"
        'chat = Chat("room", height="200px")\nchat',
        'LiveLog("room", height="120px")',
        'chat.send("hello from the kernel", name="teacher")',
    )
    hall = lab.notebook("hall.ipynb", 'from jupyter_realtime.widgets import Chat\nChat("room")')
    async with chromium() as browser:
        first, second = await browser.new_context(), await browser.new_context()
        page = await open_notebook(first, lab, room)  # the user who reads
        hostile = await open_notebook(second, lab, hall)  # another user, present too
        me, other = await page.evaluate(ME), await hostile.evaluate(ME)
        assert me["username"] != other["username"]  # two identities
        assert other["display_name"] and other["display_name"] != other["username"]

        # both users in the room, each chip the user's display name
        await page.wait_for_function(
            "() => document.querySelector('.jp-realtime-chat-people')?.textContent"
            ".startsWith('2 here')"
        )
        assert sorted(await page.evaluate(CHIPS_JS)) == sorted(
            [me["display_name"], other["display_name"]]
        )

        # the kernel: its owner's kernel and its notebook, its label beside it
        kernel = await row(page, "hello from the kernel")
        assert kernel["author"] == f"{OWNER}'s kernel (room.ipynb)"
        assert kernel["sender"].startswith(f"{OWNER}/kernel/")
        assert kernel["who"] == f"teacher ({OWNER}'s kernel (room.ipynb))"

        # the hostile user posts as "teacher", with HTML in the name, from script
        status, body = await hostile.evaluate(
            HOSTILE_POST, ["room", "hand in your exams now", FORGED]
        )
        assert status == 200, body
        forged = await row(page, "hand in your exams now")
        assert forged["author"] == other["display_name"]  # who really posted
        assert forged["sender"] == other["username"]
        assert forged["label"] == FORGED  # the claim, beside it and as text
        assert forged["who"] == f"{FORGED} ({other['display_name']})"
        assert forged["elements"] == 0
        assert await page.evaluate("() => window.pwned") is None
        # the same name in the chip as in the chat
        assert other["display_name"] in await page.evaluate(CHIPS_JS)

        # LiveLog: the same verified author, for the user and for the kernel
        await page.wait_for_function(f"() => ({LOG_JS})('hand in your exams') !== null")
        assert await page.evaluate(LOG_JS, "hand in your exams") == other["display_name"]
        assert await page.evaluate(LOG_JS, "hello from the kernel") == (
            f"{OWNER}'s kernel (room.ipynb)"
        )

        # and the hostile user's own page shows the same
        mine = await row(hostile, "hand in your exams now")
        assert (mine["author"], mine["label"]) == (other["display_name"], FORGED)

        # the server stamped it: the history says so to any client
        pubs = lab.get("realtime/api/channels/room/history?limit=10")["publications"]
        stamped = [(p["sender"], p["sender_name"]) for p in pubs]
        assert (other["username"], other["display_name"]) in stamped
        assert all(name != "teacher" for _, name in stamped)
        await first.close()
        await second.close()




CURSOR_NAMES_JS = """channel => {
    const cell = window.jupyterRealtimeCells.get(channel)[0];
    const mine = cell.doc.clientID;
    return [...cell.awareness.getStates()].filter(([id]) => id !== mine)
        .map(([, state]) => state.user?.name ?? null);
}"""
FORGE_CURSOR_JS = """([channel, name]) => {
    const cell = window.jupyterRealtimeCells.get(channel)[0];
    const user = cell.awareness.getLocalState().user;
    cell.awareness.setLocalStateField('user', {...user, name});
}"""


async def test_a_shared_cells_cursor_carries_its_publishers_verified_name(lab: Lab) -> None:
    channel = "names:cell"
    cell = 'from jupyter_realtime.widgets import SharedCell\nSharedCell("names:cell")'
    honest, forger = lab.notebook("cell_a.ipynb", cell), lab.notebook("cell_b.ipynb", cell)
    editor = ".jp-realtime-sharedcell[data-ready=true] .cm-content"
    async with chromium() as browser:
        first, second = await browser.new_context(), await browser.new_context()
        a = await open_notebook(first, lab, honest)
        b = await open_notebook(second, lab, forger)
        for page in (a, b):
            await page.locator(editor).wait_for(timeout=60_000)
        other = await b.evaluate(ME)
        await b.locator(editor).click()
        await b.keyboard.type("hi")
        label = a.locator(".cm-ySelectionInfo").first
        await label.wait_for(state="attached")
        assert await label.text_content() == other["display_name"]
        # b claims to be "teacher" (with HTML): a still labels b's cursor with b's name
        await b.evaluate(FORGE_CURSOR_JS, [channel, FORGED])
        await b.keyboard.type(" there")  # the caret moves: the forged state goes out again
        await a.wait_for_function(
            f"() => ({CURSOR_NAMES_JS})({channel!r}).length > 0"
        )
        await a.wait_for_timeout(500)
        assert await a.evaluate(CURSOR_NAMES_JS, channel) == [other["display_name"]]
        assert await label.text_content() == other["display_name"]
        # the forged state did go out on the channel (stamped by a, not by the server)
        pubs = lab.get(f"realtime/api/channels/{channel}:awareness/history?limit=50")
        sent = b"".join(base64.b64decode(p["data_b64"]) for p in pubs["publications"])
        assert b"teacher<img" in sent
        assert await a.evaluate("() => window.pwned") is None
        await first.close()
        await second.close()
