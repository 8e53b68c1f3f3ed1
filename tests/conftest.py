"""Shared fixtures: a real Jupyter server with the extension, and URLs to reach it."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_core.utils import ensure_event_loop
from jupyter_server.utils import url_path_join

pytest_plugins = ["pytest_jupyter.jupyter_server"]

TOKEN = "test-token"


@pytest.fixture
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """pytest-jupyter's loop, closed the way ``asyncio.run`` closes its own.

    Its fixture closes the loop at once: an async generator a test left unfinished (an
    ``async for`` over an SSE stream ended by ``break``) is then finalized by a task that
    never runs ("Task was destroyed but it is pending!"), and tasks still pending are lost.
    """
    with warnings.catch_warnings():  # as pytest-jupyter does
        warnings.filterwarnings("ignore", ".*WindowsSelectorEventLoopPolicy.*", DeprecationWarning)
        loop = ensure_event_loop(prefer_selector_loop=True)
    yield loop
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


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
