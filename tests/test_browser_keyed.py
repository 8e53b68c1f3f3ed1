"""``LiveValue(channel, key=...)`` in real Chromium: a viewer who opens the notebook long
after a keyed publication (hundreds of others since, history of 20) still sees the
latest value of its key at once, and each view follows only its own key live."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_browser import TOKEN, Lab, chromium, open_notebook, running_lab

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


async def test_a_late_viewer_sees_the_latest_value_of_each_key(tmp_path: Path) -> None:
    extra = ("--RealtimeApp.history_size=20",)
    with running_lab(tmp_path, extra=extra) as lab:
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
