"""Names nobody can forge, shown the same everywhere: two people in one JupyterLab (two
browser contexts, each logged in as its own Jupyter user), one of them hostile, and the
notebook's kernel, all on one chat channel. Headless Chromium against a ``jupyter lab``
subprocess (the helpers of ``test_browser.py``).

The hostile user posts with ``fetch`` (not the widget) a message whose ``name`` claims to be
"teacher" and carries HTML. The other user's Chat and LiveLog show the server-verified
display name as the author, the claimed name only beside it and as text; her presence chip
and Chat show the same name for the same user; the kernel's message shows as
"alice's kernel (room.ipynb)".
"""

from __future__ import annotations

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


