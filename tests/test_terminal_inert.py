"""``jupyter realtime watch`` keeps what another user publishes inert on a real terminal.

The watcher runs as a subprocess whose stdout is a pseudo-terminal (so it prints colours)
against a real server whose identity provider also knows ``mallory``. Mallory publishes
escape sequences that would set the window title, write the clipboard (OSC 52), clear the
screen, move the cursor or make a link, in stream text, in a progress bar's description and
in HTML, plus the hostile HTML of ``tests/fixtures/mirrored_output.json``. What reaches the
terminal holds colours (SGR) and no other escape sequence; the HTML's table is printed as
columns and none of its script or handlers is.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_server.auth.identity import PasswordIdentityProvider, User

JUPYTER = str(Path(sys.executable).with_name("jupyter"))
FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "mirrored_output.json").read_text())
HTML = next(c["value"] for c in FIXTURE["hostile"] if c["mime"] == "text/html")
EVIL = (  # window title, clipboard write, screen clear, cursor home, a hyperlink
    "\x1b]0;owned\x07\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b[H\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"
)
ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # colours: the only sequences allowed through


class MalloryToo(PasswordIdentityProvider):
    async def get_user_token(self, handler: Any) -> User | None:
        if self.get_token(handler) == "mallory-token":
            return User(username="mallory")
        return await super().get_user_token(handler)  # type: ignore[no-any-return]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_realtime": True},
            "identity_provider_class": MalloryToo,
        },
        "IdentityProvider": {"token": "watcher-token"},
    }


async def test_the_terminal_watcher_prints_no_escape_sequence_but_colours(
    server: Any, jp_base_url: str
) -> None:
    channel = "inert:terminal"
    messages = [
        {"type": "cell_start", "cell": "t", "v": 1, "execution_count": 4},
        {"type": "stream", "cell": "t", "name": "stdout", "text": f"\x1b[32mgreen\x1b[0m{EVIL}\n"},
        {"type": "display_data", "cell": "t", "metadata": {}, "display_id": None,
         "data": {"text/html": HTML + EVIL, "text/plain": "<IPython.core.display.HTML object>"}},
        {"type": "error", "cell": "t", "ename": "E", "evalue": "v",
         "traceback": [f"\x1b[31mTraceback{EVIL}\x1b[0m"]},
        {"type": "progress", "cell": "t", "bar": "b", "desc": f"train{EVIL}", "n": 1,
         "total": 2, "unit": "it", "done": True, "elapsed": 1.0},
        {"type": "cell_end", "cell": "t", "status": "ok", "execution_count": 4, "duration": 1.0},
    ]  # fmt: skip
    async with httpx.AsyncClient(headers={"Authorization": "token mallory-token"}) as http:
        url = server.http("realtime/api/channels", channel)
        for msg in messages:
            (await http.post(url, json=msg)).raise_for_status()
        history = await http.get(server.http("realtime/api/channels", channel, "history"))
    assert {p["sender"] for p in history.json()["publications"]} == {"mallory"}

    master, terminal = os.openpty()
    env = {**os.environ, "JUPYTER_REALTIME_URL": server.http(), "COLUMNS": "100",
           "JUPYTER_REALTIME_TOKEN": "watcher-token"}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        JUPYTER, "realtime", "watch", channel, stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    os.set_blocking(master, False)
    shown = b""
    try:
        deadline = time.monotonic() + 60
        while b"In [4] ok" not in shown:
            assert proc.returncode is None and time.monotonic() < deadline, shown
            try:
                shown += os.read(master, 65536)
            except (BlockingIOError, OSError):
                await asyncio.sleep(0.1)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 15)
        os.close(master)
    text = shown.decode(errors="replace")
    assert "\x1b[32mgreen\x1b[0m" in text  # colours stay on a terminal
    assert "\x1b" not in ESCAPE.sub("", text), repr(text)
    assert "\x07" not in text and "owned" not in text.replace("\x1b[0m", "")
    assert "cell-1" in text and "col" in text and "link" in text  # the table, as text
    for gone in ("<script", "__pwned", "onerror", "javascript:", "<table"):
        assert gone not in text, gone
