"""Finding the server: arguments, environment, runtime files (no server needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from jupyter_realtime.client._discovery import Endpoint, candidates


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: Any) -> Path:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("JUPYTER_REALTIME_URL", raising=False)
    monkeypatch.delenv("JUPYTER_REALTIME_TOKEN", raising=False)
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    return tmp_path


def server_file(runtime: Path, pid: int, port: int, token: str) -> None:
    info = {"pid": pid, "url": f"http://localhost:{port}/", "token": token}
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))


def found(tried: list[str] | None = None, **kwargs: Any) -> list[tuple[str, str]]:
    return [(e.url, e.token) for e in candidates(tried=tried, **kwargs)]


def test_url_argument_wins_and_keeps_its_token(runtime: Path) -> None:
    assert found(url="http://h:1/", token="t") == [("http://h:1/", "t")]
    assert found(url="http://h:1/") == [("http://h:1/", "")]


def test_environment(runtime: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("JUPYTER_REALTIME_URL", "http://127.0.0.1:8888/base/")
    monkeypatch.setenv("JUPYTER_REALTIME_TOKEN", "env")
    assert found() == [("http://127.0.0.1:8888/base/", "env")]
    # the environment's token never goes to another server
    assert found(url="http://127.0.0.1:9999/") == [("http://127.0.0.1:9999/", "")]


def test_a_restarted_server_is_tried_with_its_new_token(runtime: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("JUPYTER_REALTIME_URL", "http://127.0.0.1:8888/")
    monkeypatch.setenv("JUPYTER_REALTIME_TOKEN", "old")
    server_file(runtime, os.getpid(), 8888, "new")
    server_file(runtime, os.getppid(), 7777, "other")  # another server: not used
    assert found() == [("http://127.0.0.1:8888/", "old"), ("http://127.0.0.1:8888/", "new")]


def test_running_servers_parent_first_and_dead_ones_skipped(runtime: Path) -> None:
    server_file(runtime, os.getpid(), 1111, "mine")
    server_file(runtime, os.getppid(), 2222, "parent")
    server_file(runtime, 2**22 + 12345, 3333, "gone")  # no such process
    assert found() == [("http://localhost:2222/", "parent"), ("http://localhost:1111/", "mine")]


def test_nothing_found_says_what_was_tried(runtime: Path) -> None:
    tried: list[str] = []
    assert found(tried) == []
    assert tried == [
        "$JUPYTER_REALTIME_URL (not set)",
        f"Jupyter's running servers in {runtime} (none found)",
    ]


def test_endpoint_urls() -> None:
    e = Endpoint("http://localhost:8888/a%40b/", "t", "test")
    assert e.ws() == "ws://localhost:8888/a%40b/realtime/ws"
    assert e.http("realtime/api/channels") == "http://localhost:8888/a%40b/realtime/api/channels"
    assert e.headers == {"Authorization": "token t"} and e.loopback
    assert Endpoint("https://example.org/", "", "x").ws() == "wss://example.org/realtime/ws"
    assert Endpoint("https://example.org/", "", "x").headers == {}
