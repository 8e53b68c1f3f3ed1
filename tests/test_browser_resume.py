"""Resume through the browser client on every transport, in headless Chromium.

A notebook shows one ``LiveLog`` per forced transport (``ws``, ``sse``, ``stream``, ``poll``),
each on a channel of its own, on a Jupyter server that shares its channels with a second
server through Redis. The page's server is stopped while the other server takes 30
publications in each channel, then started again on the same port: every view must show
every publication exactly once, in order, without a gap marker. All four transports share
one page, one kernel and one restart, so the test costs one server restart, not four.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_browser import Lab, chromium, open_notebook

pytestmark = [pytest.mark.browser, pytest.mark.redis]

TRANSPORTS = ("ws", "sse", "stream", "poll")
BEFORE, WHILE_DOWN, AFTER = 5, 30, 5

# Each log view by its channel: its badge, its items (newest first) and its gap markers.
VIEWS_JS = """() => Object.fromEntries(
  [...document.querySelectorAll('.jp-realtime-log')].map(el => [
    el.querySelector('.jp-realtime-title').textContent,
    {
        badge: el.querySelector('.jp-realtime-badge').textContent,
        texts: [...el.querySelectorAll('.jp-realtime-log-text')].map(t => t.textContent),
        offsets: [...el.querySelectorAll('li[data-offset]')].map(li => Number(li.dataset.offset)),
        gaps: el.querySelectorAll('.jp-realtime-gap').length,
    },
  ]))"""


def channel(transport: str) -> str:
    return f"resume-{transport}"


def publish_all(lab: Lab, numbers: range) -> None:
    for transport in TRANSPORTS:
        for n in numbers:
            lab.publish(channel(transport), {"n": n})


async def wait_views(page: Any, condition: str, timeout: float = 30_000) -> None:
    """Wait until ``condition`` (JS, of ``v``: one view) holds for every transport's view."""
    channels = json.dumps([channel(t) for t in TRANSPORTS])
    await page.wait_for_function(
        f"() => {{ const views = ({VIEWS_JS})();"
        f" return {channels}.every(c => views[c] && (v => {condition})(views[c])); }}",
        timeout=timeout,
    )


@pytest.mark.timeout(300)
async def test_views_resume_on_every_transport_after_a_server_restart(tmp_path: Path) -> None:
    from redis_fixtures import RedisServer

    redis = RedisServer(tmp_path)
    redis.start()
    shared = (f"--RealtimeApp.broker_url={redis.url}",)
    other = first = None
    try:
        other = Lab(tmp_path / "b", extra=shared)
        first = Lab(tmp_path / "a", extra=shared)
        other.wait_ready()
        first.wait_ready()
        views = ", ".join(
            f'LiveLog("{channel(t)}", transports=["{t}"], max_items=100)' for t in TRANSPORTS
        )
        name = first.notebook(
            "resume.ipynb", f"from jupyter_realtime.widgets import LiveLog\ndisplay({views})"
        )
        async with chromium() as browser:
            page = await open_notebook(browser, first, name)
            await wait_views(page, "v.badge.startsWith('live')", timeout=60_000)
            badges = {c: v["badge"] for c, v in (await page.evaluate(VIEWS_JS)).items()}
            assert badges == {channel(t): f"live · {t}" for t in TRANSPORTS}
            publish_all(first, range(BEFORE))
            await wait_views(page, f"v.texts.length === {BEFORE}")

            first.stop()  # the page's server goes away ...
            await wait_views(page, "v.badge === 'reconnecting'")
            publish_all(other, range(BEFORE, BEFORE + WHILE_DOWN))  # ... others publish
            first = Lab(tmp_path / "a", extra=shared, port=first.port)
            first.wait_ready()
            resumed = BEFORE + WHILE_DOWN
            await wait_views(page, f"v.texts.length >= {resumed}", timeout=90_000)
            publish_all(first, range(resumed, resumed + AFTER))
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
    finally:
        for lab in (first, other):
            if lab is not None:
                lab.stop()
        redis.stop()
