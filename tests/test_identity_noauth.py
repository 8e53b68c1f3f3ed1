"""A server without authentication: clients without a cookie are ``token_user`` too.

pytest-jupyter always gives its server a token, so this starts ``jupyter server`` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from redis_fixtures import free_port, wait_for
from test_identity import command

JUPYTER = str(Path(sys.executable).with_name("jupyter"))


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),  # channels' database lives there
    }
    args = [
        JUPYTER, "server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
        "--ServerApp.password=", f"--ServerApp.root_dir={tmp_path}",
        "--RealtimeApp.token_user=lin",
    ]  # fmt: skip
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        try:
            return httpx.get(url + "api/status", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 60, "jupyter server without authentication")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


async def test_clients_of_a_server_without_authentication_share_one_sender(
    open_server: str,
) -> None:
    ws_url = "ws" + open_server[4:] + "realtime/ws"
    for i in range(2):
        async with websockets.connect(ws_url) as ws:  # no credentials, no cookie
            await command(ws, 1, op="publish", channel="open", data=i)
    async with httpx.AsyncClient() as http:
        reply = await http.get(open_server + "realtime/api/channels/open/history")
    senders = [p["sender"] for p in json.loads(reply.content)["publications"]]
    assert senders == ["lin", "lin"]
