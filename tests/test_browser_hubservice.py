"""The classroom in Chromium, through JupyterHub's login and the service's OAuth.

A student logs in to a real JupyterHub (DummyAuthenticator), opens the service's watch page
of the class channel (the hub's OAuth gives her the service's cookie, no confirm page), and
sees the teacher's announcement arrive live with the teacher as sender. From that page
(her cookie, not a token) she answers where the rules let her, is refused the class
channel, and a POST without the XSRF header is refused: a foreign page cannot publish in
her name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub_fixtures import RealtimeHub, start_hub
from test_browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[RealtimeHub]:
    running = start_hub(tmp_path / "hub")
    try:
        yield running
    finally:
        running.stop()


POST_JS = """async ([url, body, withXsrf]) => {
    const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "";
    const headers = {"Content-Type": "application/json"};
    if (withXsrf) headers["X-XSRFToken"] = decodeURIComponent(xsrf);
    const reply = await fetch(url, {method: "POST", body, headers, credentials: "same-origin"});
    return {status: reply.status, body: await reply.json(), xsrf: xsrf !== ""};
}"""


async def test_a_student_sees_the_announcement_and_answers_from_her_browser(
    hub: RealtimeHub,
) -> None:
    channel = "class:browser"
    async with chromium() as browser:
        page = await browser.new_page()
        page.set_default_timeout(60_000)
        await page.goto(f"{hub.url}hub/login")
        await page.fill("input[name=username]", "alice")
        await page.fill("input[name=password]", "classroom")
        await page.click("input[type=submit], button[type=submit]")
        await page.wait_for_url("**/hub/**")
        # OAuth to the service, back to the page asked for
        await page.goto(f"{hub.service}realtime/watch/{channel}")
        await page.wait_for_function(
            "() => document.querySelector('.rw-connection')?.dataset.state === 'connected'"
        )
        async with httpx.AsyncClient(timeout=30) as http:
            sent = await http.post(
                f"{hub.service}realtime/api/channels/{channel}",
                json={"text": "Quiz at 10"},
                headers={"Authorization": f"token {hub.token('teacher')}"},
            )
        assert sent.status_code == 200, sent.text
        await page.wait_for_function(
            "() => document.body.innerText.includes('Quiz at 10')"
        )
        api = f"{hub.service}realtime/api/channels"
        answer: Any = await page.evaluate(POST_JS, [f"{api}/answers:quiz", '"B"', True])
        assert answer["status"] == 200 and answer["xsrf"], answer
        refused: Any = await page.evaluate(POST_JS, [f"{api}/{channel}", '"no quiz"', True])
        assert refused["status"] == 403, refused
        assert refused["body"]["error"]["code"] == "forbidden"
        no_xsrf: Any = await page.evaluate(POST_JS, [f"{api}/answers:quiz", '"C"', False])
        assert no_xsrf["status"] == 403 and "_xsrf" in no_xsrf["body"]["error"]["message"]
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.get(
            f"{api}/answers:quiz/history",
            headers={"Authorization": f"token {hub.token('teacher')}"},
        )
    assert [(p["sender"], p["data"]) for p in reply.json()["publications"]] == [("alice", "B")]
