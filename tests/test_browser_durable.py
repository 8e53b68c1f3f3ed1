"""Resume through the browser client on every transport across restarts of a server that
keeps its channels in SQLite (the default), in headless Chromium.

One notebook shows a ``LiveLog`` per forced transport (``ws``, ``sse``, ``stream``,
``poll``). The page goes offline and its server is stopped, started again on the same
port and file, takes 30 acknowledged publications per channel, is killed with
``kill -9`` and started once more. Then the page comes back online: every view resumes in
the same epoch (no gap marker) and shows every publication exactly once, in order.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from test_browser import Lab, chromium, open_notebook
from test_browser_resume import TRANSPORTS, VIEWS_JS, channel, publish_all, wait_views

pytestmark = [pytest.mark.browser]

BEFORE, WHILE_AWAY, AFTER = 5, 30, 5


def restart(lab: Lab, tmp: Path, sig: int = signal.SIGTERM) -> Lab:
    """Stop ``lab`` (``sig``) and start a new one on its port, root and data dir."""
    if sig != signal.SIGTERM:
        os.kill(lab.proc.pid, sig)
        lab.proc.wait()
    lab.stop()
    again = Lab(tmp, port=lab.port)
    again.wait_ready(120)
    return again


@pytest.mark.timeout(400)
async def test_views_resume_on_every_transport_after_a_restart_and_a_kill(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    try:
        lab.wait_ready(120)
        views = ", ".join(
            f'LiveLog("{channel(t)}", transports=["{t}"], max_items=100)' for t in TRANSPORTS
        )
        name = lab.notebook(
            "durable.ipynb", f"from jupyter_realtime.widgets import LiveLog\ndisplay({views})"
        )
        async with chromium() as browser:
            context = await browser.new_context()
            page = await open_notebook(context, lab, name)
            await wait_views(page, "v.badge.startsWith('live')", timeout=90_000)
            publish_all(lab, range(BEFORE))
            await wait_views(page, f"v.texts.length === {BEFORE}")
            epochs = {t: lab.get(f"realtime/api/channels/{channel(t)}/history")["epoch"]
                      for t in TRANSPORTS}  # fmt: skip

            await context.set_offline(True)  # the page cannot reach the server for a while
            lab = restart(lab, tmp_path)
            await wait_views(page, "v.badge === 'reconnecting'")
            publish_all(lab, range(BEFORE, BEFORE + WHILE_AWAY))  # each acknowledged ...
            lab = restart(lab, tmp_path, signal.SIGKILL)  # ... then the server is killed
            await context.set_offline(False)

            resumed = BEFORE + WHILE_AWAY
            await wait_views(page, f"v.texts.length >= {resumed}", timeout=120_000)
            publish_all(lab, range(resumed, resumed + AFTER))
            total = resumed + AFTER
            await wait_views(page, f"v.texts.length >= {total}")
            await page.wait_for_timeout(500)  # anything repeated would show by now

            seen = await page.evaluate(VIEWS_JS)
            expected = [json.dumps({"n": n}, separators=(",", ":")) for n in reversed(range(total))]
            for transport in TRANSPORTS:
                view = seen[channel(transport)]
                assert view["texts"] == expected, transport
                assert view["offsets"] == list(range(total, 0, -1)), transport
                assert view["gaps"] == 0, transport
                assert view["badge"] == f"live · {transport}", transport
                history = lab.get(f"realtime/api/channels/{channel(transport)}/history")
                assert history["epoch"] == epochs[transport], transport
            await context.close()
    finally:
        lab.stop()
