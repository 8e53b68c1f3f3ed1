"""Shared fixtures: a real Jupyter server with the extension, and URLs to reach it."""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.utils import url_path_join

pytest_plugins = ["pytest_jupyter.jupyter_server"]

TOKEN = "test-token"


@pytest.fixture
def realtime_config() -> dict[str, Any]:
    """Override in a test module to set RealtimeApp traits."""
    return {}


@pytest.fixture
def jp_server_config(realtime_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_realtime": True}},
        "IdentityProvider": {"token": TOKEN},
        "RealtimeApp": realtime_config,
    }


class Server:
    """Where the test server is, and how to authenticate to it."""

    def __init__(self, port: int, base_url: str) -> None:
        self.port = port
        self.base_url = base_url
        self.token = TOKEN
        self.headers = {"Authorization": f"token {TOKEN}"}

    def http(self, *path: str) -> str:
        return f"http://127.0.0.1:{self.port}" + url_path_join(self.base_url, *path)

    def ws(self, *path: str) -> str:
        return f"ws://127.0.0.1:{self.port}" + url_path_join(self.base_url, *path)


@pytest.fixture
def server(
    http_server: Any, jp_serverapp: Any, jp_asyncio_loop: Any, jp_http_port: int, jp_base_url: str
) -> Server:
    """The running server (``http_server`` makes it answer; see TOOLCHAIN.md).

    pytest-jupyter never runs the server's post-start hook, where extensions start their
    background work (the broker, heartbeats); run it here as ``jupyter server`` does.
    """
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    return Server(jp_http_port, jp_base_url)
