"""``GET realtime/watch/<channel>`` and ``GET realtime/static/<file>`` over HTTP (no browser).

The page is behind Jupyter's login (a redirect to it, as any Jupyter page), checks the
channel's name and the channel policy, and confines scripts with its Content-Security-Policy;
the standalone modules are served as JavaScript to anyone, without leaving their folder.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_process import Server, started

from jupyter_realtime.transports.watch import STATIC_DIR, ClientModuleHandler


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    return {"private_channels": {"secret:*": ["someone-else"]}}


async def test_the_page_names_the_channel_and_confines_scripts(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        answer = await http.get(server.http("realtime/watch/train:log"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=UTF-8"
    page = answer.text
    assert 'data-channel="train:log"' in page
    assert f'data-base-url="{server.base_url}"' in page
    assert f'src="{server.base_url}realtime/static/watch.js?v=' in page
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "img-src 'self' data: blob:" in csp


async def test_the_history_shown_is_a_parameter(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        fifty = await http.get(server.http("realtime/watch/train:log"), params={"history": "50"})
        bad = [
            await http.get(server.http("realtime/watch/train:log"), params={"history": value})
            for value in ("-1", "many", "10001")
        ]
    assert 'data-history="50"' in fifty.text
    assert [answer.status_code for answer in bad] == [400, 400, 400]
    assert "history must be a count of publications, 0 to 10000" in bad[0].text


async def test_the_page_is_behind_the_login(server: Any) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.get(server.http("realtime/watch/train:log"))
    assert answer.status_code == 302
    assert "/login?next=" in answer.headers["location"]


async def test_logging_in_from_a_watch_link_lands_on_the_watch_page(server: Any) -> None:
    # Jupyter's login handler turned a raw `:` in `next` into `team://log` (a 404 after the
    # login): the redirect to the login page carries it as %3A, and the route decodes it
    async with httpx.AsyncClient(follow_redirects=False) as http:
        first = await http.get(server.http("realtime/watch/team:log"), params={"history": "5"})
        assert first.status_code == 302
        form = await http.get(httpx.URL(server.http()).join(first.headers["location"]))
        assert form.status_code == 200 and 'name="password"' in form.text
        xsrf = http.cookies["_xsrf"]
        action = re.search(r'<form[^>]* action="([^"]+)"', form.text)
        assert action is not None
        login = await http.post(
            httpx.URL(server.http()).join(html.unescape(action.group(1))),
            data={"password": server.token, "_xsrf": xsrf},
        )
        assert login.status_code == 302, login.text
        landed = await http.get(httpx.URL(server.http()).join(login.headers["location"]))
    assert landed.status_code == 200, landed.headers.get("location")
    assert landed.url.raw_path == f"{server.base_url}realtime/watch/team%3Alog?history=5".encode()
    assert 'data-channel="team:log"' in landed.text and 'data-history="5"' in landed.text


async def test_a_bad_name_or_a_channel_the_user_may_not_read(server: Any) -> None:
    async with httpx.AsyncClient(headers=server.headers) as http:
        bad = await http.get(server.http("realtime/watch/no%20spaces"))
        private = await http.get(server.http("realtime/watch/secret:plans"))
    assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
    assert private.status_code == 403
    assert "secret:plans" in private.text


async def test_the_client_module_is_served_as_javascript(server: Any) -> None:
    assert (STATIC_DIR / "realtime-client.js").exists(), "run npm run build:standalone"
    async with httpx.AsyncClient() as http:  # no credentials: code, not data
        answer = await http.get(server.http("realtime/static/realtime-client.js"))
        again = await http.get(
            server.http("realtime/static/realtime-client.js"),
            headers={"If-None-Match": answer.headers["etag"]},
        )
        outside = await http.get(server.http("realtime/static/..%2F__init__.py"))
        missing = await http.get(server.http("realtime/static/nothing.js"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/javascript; charset=UTF-8"
    assert answer.headers["cache-control"] == "no-cache"
    assert "RealtimeClient" in answer.text and "export{" in answer.text.replace(" ", "")
    assert again.status_code == 304
    assert outside.status_code in (403, 404)
    assert missing.status_code == 404


def test_the_client_module_is_public_on_purpose(jp_serverapp: Any) -> None:
    """Jupyter lists endpoints that are neither authenticated nor marked public; not this."""
    missing = jp_serverapp.web_app._check_handler_auth("realtime/static", ClientModuleHandler)
    assert missing == []


def test_no_log_line_holds_a_token(tmp_path: Path) -> None:
    """Tornado logs a failed request with its URL, and the watch page (like EventSource and
    WebSocket) takes its token in the URL: the real server's log must not show it."""
    token, wrong = "watch-log-token-7f3a9c", "wrong-token-5e1d"
    runtime = tmp_path / "runtime"
    with started(Server(tmp_path, tmp_path, runtime, token)) as (server,):
        logged_before = len(server.output())  # jupyter_server prints its own URL with the token
        with httpx.Client(base_url=server.url, follow_redirects=False) as http:
            for path, status in (
                (f"realtime/watch/no%20spaces?token={token}", {400}),
                (f"realtime/watch/train:log?history=many&token={token}", {400}),
                (f"realtime/watch/train:log?token={token}&history=5", {200}),
                (f"realtime/watch/train:log?token={wrong}", {302}),
                (f"realtime/sse?channel=a%20b&token={token}", {400}),
                (f"realtime/api/channels?token={wrong}", {403}),
                (f"realtime/static/..%2F__init__.py?token={token}", {403, 404}),
            ):
                assert http.get(path).status_code in status, path
        time.sleep(0.5)  # the last lines reach the log file
        log = server.output()[logged_before:]
    assert token not in log and wrong not in log
    # and the lines are there, saying what failed
    assert "realtime/watch/no%20spaces?token=[secret] (127.0.0.1): bad channel name" in log
    assert "realtime/watch/train:log?history=many&token=[secret] (127.0.0.1): history must" in log
