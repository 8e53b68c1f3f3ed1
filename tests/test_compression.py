"""Every transport with tornado's gzip on (``compress_response``), behind a non-default
``base_url``, and over TLS.

Tornado's gzip transform compresses ``text/*`` responses; a stream's frames are written to
the connection outside it, so a gzipped SSE stream did not decode. Streams are now sent
uncompressed while whole answers (polls, JSONP, REST) stay gzipped. A real server (the
pytest-jupyter one, base URL ``/a%40b/``; and a ``jupyter server`` subprocess with a
self-signed certificate made here with the openssl command), ordinary clients (httpx,
httpx-sse, websockets) and Chromium's ``EventSource``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from jupyter_process import free_port
from websockets.asyncio.client import connect

BIG = "x" * 4000  # above tornado's gzip threshold (1 KiB), so whole answers are compressed
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_realtime": True},
            "tornado_settings": {"compress_response": True},
        },
        "IdentityProvider": {"token": "gzip-token"},
        "RealtimeApp": {"jsonp_enabled": True, "heartbeat_interval": 0.5},
    }


class Target:
    """Where a server is: its URLs (``https`` or ``http``), token and TLS context."""

    def __init__(self, origin: str, base_url: str, token: str, verify: Any = True) -> None:
        self.origin, self.base_url, self.token, self.verify = origin, base_url, token, verify
        self.headers = {"Authorization": f"token {token}", **GZIP}

    def http(self, path: str) -> str:
        return self.origin + self.base_url + path

    def ws(self, path: str) -> str:
        return self.http(path).replace("http", "ws", 1)


@pytest.fixture
def target(server: Any) -> Target:
    assert server.base_url != "/"
    return Target(f"http://127.0.0.1:{server.port}", server.base_url, "gzip-token")


async def publish(http: httpx.AsyncClient, target: Target, channel: str, data: Any) -> None:
    reply = await http.post(target.http(f"realtime/api/channels/{channel}"), json=data)
    assert reply.status_code == 200, reply.text


async def sse_frames(http: httpx.AsyncClient, url: str) -> AsyncIterator[dict[str, Any]]:
    async with aconnect_sse(http, "GET", url) as source:
        assert source.response.status_code == 200
        assert "content-encoding" not in source.response.headers
        async for event in source.aiter_sse():
            if event.data:
                yield orjson.loads(event.data)


async def ndjson_frames(http: httpx.AsyncClient, url: str) -> AsyncIterator[dict[str, Any]]:
    async with http.stream("GET", url) as response:
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        async for line in response.aiter_lines():
            if line.strip():
                yield orjson.loads(line)


async def stream_receives(
    http: httpx.AsyncClient, target: Target, frames: AsyncIterator[dict[str, Any]], channel: str
) -> list[Any]:
    """Wait for ``subscribed``, publish three (one large), return the data received."""
    got: list[Any] = []
    with anyio.fail_after(20):
        async for frame in frames:
            if frame.get("event") == "subscribed":
                for value in (1, BIG, 3):
                    await publish(http, target, channel, value)
            elif "offset" in frame:
                got.append(frame["data"])
                if len(got) == 3:
                    break
    await frames.aclose()  # type: ignore[attr-defined]
    return got


async def check_every_transport(target: Target) -> None:
    async with httpx.AsyncClient(headers=target.headers, timeout=20, verify=target.verify) as http:
        url = target.http("realtime/sse?channel=gz-sse")
        assert await stream_receives(http, target, sse_frames(http, url), "gz-sse") == [1, BIG, 3]
        url = target.http("realtime/stream?channel=gz-stream")
        frames = ndjson_frames(http, url)
        assert await stream_receives(http, target, frames, "gz-stream") == [1, BIG, 3]

        first = await http.get(target.http("realtime/poll?channel=gz-poll"))
        cursor = first.json()["cursor"]
        await publish(http, target, "gz-poll", BIG)
        polled = await http.get(target.http(f"realtime/poll?channel=gz-poll&cursor={cursor}"))
        assert polled.headers.get("content-encoding") == "gzip"  # gzip is really on
        assert [m["data"] for m in polled.json()["messages"] if "offset" in m] == [BIG]
        jsonp = await http.get(
            target.http(f"realtime/jsonp?channel=gz-poll&cursor={cursor}&callback=got")
        )
        assert jsonp.headers.get("content-encoding") == "gzip"
        body = jsonp.text
        assert body.startswith("/**/got(") and body.endswith(");")
        assert [m["data"] for m in json.loads(body[8:-2])["messages"] if "offset" in m] == [BIG]

    tls = target.verify if isinstance(target.verify, ssl.SSLContext) else None
    headers = {"Authorization": f"token {target.token}"}
    async with connect(target.ws("realtime/ws"), additional_headers=headers, ssl=tls) as ws:
        await ws.send(orjson.dumps({"id": 1, "op": "subscribe", "channel": "gz-ws"}).decode())
        await ws.send(orjson.dumps({"id": 2, "op": "publish", "channel": "gz-ws",
                                    "data": BIG}).decode())  # fmt: skip
        while "offset" not in (frame := orjson.loads(await asyncio.wait_for(ws.recv(), 20))):
            pass
        assert frame["data"] == BIG


async def test_every_transport_with_gzip_behind_a_base_url(target: Target) -> None:
    await check_every_transport(target)


async def test_a_heartbeat_after_idling_still_decodes_with_gzip(target: Target) -> None:
    """Frames written after the headers, straight to the connection, are plain text."""
    async with httpx.AsyncClient(headers=target.headers, timeout=20) as http:
        url = target.http("realtime/sse?channel=gz-idle")
        async with http.stream("GET", url) as response:
            assert "content-encoding" not in response.headers
            raw = b""
            with anyio.fail_after(10):
                async for piece in response.aiter_raw():
                    raw += piece
                    if b": ping" in raw:
                        break
    assert raw.startswith(b"retry: ") and b'"event":"subscribed"' in raw


# -- TLS: a jupyter server subprocess with a self-signed certificate --


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - depends on the machine
        pytest.skip("the openssl command is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Target]:
    cert, key = self_signed(tmp_path)
    port, token, base_url = free_port(), "tls-token", "/tls%40base/"
    config = tmp_path / "config"
    config.mkdir()
    settings = {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_realtime": True, "jupyterlab": False,
                                    "jupyter_lsp": False, "notebook_shim": False,
                                    "jupyter_server_terminals": False},
            "tornado_settings": {"compress_response": True},
        },
        "RealtimeApp": {"broker_url": "memory://", "jsonp_enabled": True},
    }  # fmt: skip
    (config / "jupyter_server_config.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    env.update(HOME=str(tmp_path), JUPYTER_CONFIG_DIR=str(config),
               JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))  # fmt: skip
    args = [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--no-browser",
            f"--ServerApp.base_url={base_url}", f"--IdentityProvider.token={token}",
            f"--ServerApp.certfile={cert}", f"--ServerApp.keyfile={key}", "--allow-root",
            f"--ServerApp.root_dir={tmp_path}"]  # fmt: skip
    context = ssl.create_default_context(cafile=str(cert))
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        origin = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text())
            try:
                if httpx.get(origin + base_url + "api", verify=context).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(log.read_text()[-3000:])
            time.sleep(0.2)
        yield Target(origin, base_url, token, verify=context)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_every_transport_over_tls_with_gzip_behind_a_base_url(tls_server: Target) -> None:
    await check_every_transport(tls_server)


# -- Chromium's EventSource --

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]  # fmt: skip


async def until(page: Any, predicate: str, timeout: float = 20) -> None:
    """Poll ``predicate`` (the watch page's CSP forbids the eval of ``wait_for_function``)."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(predicate):
        assert time.monotonic() < deadline, f"{predicate} still false after {timeout} s"
        await asyncio.sleep(0.1)


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
async def test_chromiums_event_source_reads_the_stream_with_gzip(target: Target) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            # a page of the server (the same origin); not an /api page, whose CSP blocks it
            await page.goto(target.http(f"realtime/watch/gz-page?token={target.token}"))
            url = target.http("realtime/sse?channel=gz-browser")
            await page.evaluate(
                """url => {
                  window.received = []; window.opened = false;
                  const source = new EventSource(url);
                  source.onopen = () => { window.opened = true; };
                  source.onmessage = e => {
                    const frame = JSON.parse(e.data);
                    if (!frame.event && 'offset' in frame) window.received.push(frame.data);
                  };
                }""",
                url,
            )
            await until(page, "() => window.opened")
            async with httpx.AsyncClient(headers=target.headers) as http:
                for value in (1, BIG, 3):
                    await publish(http, target, "gz-browser", value)
            await until(page, "() => window.received.length === 3")
            assert await page.evaluate("window.received") == [1, BIG, 3]
        finally:
            await browser.close()
