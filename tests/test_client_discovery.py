"""Finding the server: arguments, environment, runtime files (no server needed)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_realtime.client._discovery import Endpoint, candidates, hub_service_url
from jupyter_realtime.client._errors import AmbiguousServer


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: Any) -> Path:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("JUPYTER_REALTIME_URL", raising=False)
    monkeypatch.delenv("JUPYTER_REALTIME_TOKEN", raising=False)
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    monkeypatch.delenv("JUPYTER_REALTIME_HUB_SERVICE", raising=False)
    return tmp_path


def server_file(runtime: Path, pid: int, port: int, token: str) -> None:
    info = {"pid": pid, "url": f"http://localhost:{port}/", "token": token}
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))


def found(tried: list[str] | None = None, **kwargs: Any) -> list[tuple[str, str]]:
    return [(e.url, e.token) for e in candidates(tried=tried, **kwargs)]


def test_url_argument_wins_and_keeps_its_token(runtime: Path) -> None:
    assert found(url="http://h:1/", token="t") == [("http://h:1/", "t")]
    assert found(url="http://h:1/") == [("http://h:1/", "")]


def test_a_url_as_jupyter_prints_it_gives_its_token(runtime: Path) -> None:
    pasted = "http://127.0.0.1:8888/base/lab?token=abc123"
    assert found(url=pasted) == [("http://127.0.0.1:8888/base/", "abc123")]
    assert found(url=pasted, token="given") == [("http://127.0.0.1:8888/base/", "given")]
    deep = "http://h:1/mytree/lab/tree/a.ipynb?token=t"
    assert found(url=deep) == [("http://h:1/mytree/", "t")]
    (endpoint,) = candidates(url="http://127.0.0.1:8888/?token=abc123", token="")
    assert "abc123" not in str(endpoint)  # what error messages show of it


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


@pytest.fixture
def strangers() -> Iterator[list[int]]:
    """Two live processes that are not this one's ancestors (as two servers in a terminal)."""
    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    yield [p.pid for p in procs]
    for p in procs:
        p.kill()
        p.wait()


def server_in(runtime: Path, pid: int, port: int, root_dir: str) -> Path:
    info = {"pid": pid, "url": f"http://localhost:{port}/", "token": "t", "root_dir": root_dir}
    path = runtime / f"jpserver-{pid}.json"
    path.write_text(json.dumps(info))
    return path


def test_servers_of_one_user_and_root_dir_are_found_with_it(
    runtime: Path, strangers: list[int]
) -> None:
    for pid, port in zip(strangers, (1111, 2222), strict=True):
        server_in(runtime, pid, port, "/srv/project")
    found = list(candidates())
    assert [(e.url, e.root_dir, e.discovered) for e in found] == [
        ("http://localhost:1111/", "/srv/project", True),
        ("http://localhost:2222/", "/srv/project", True),
    ]


def test_servers_of_different_root_dirs_are_not_guessed(
    runtime: Path, strangers: list[int]
) -> None:
    server_in(runtime, strangers[0], 1111, "/srv/a")
    server_in(runtime, strangers[1], 2222, "/srv/b")
    with pytest.raises(AmbiguousServer) as info:
        list(candidates())
    message = info.value.message
    assert message.startswith("2 Jupyter servers are running, of different users or root dirs: ")
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert f"http://localhost:1111/ (root dir /srv/a, user {me}, pid {strangers[0]})" in message
    assert f"http://localhost:2222/ (root dir /srv/b, user {me}, pid {strangers[1]})" in message
    assert message.endswith("Choose one with --url URL (and --token TOKEN), or set "
                            "JUPYTER_REALTIME_URL (and JUPYTER_REALTIME_TOKEN)")  # fmt: skip
    # a URL chooses; so does being started by one of them (a kernel, a terminal)
    assert [e.url for e in candidates(url="http://localhost:2222/")] == ["http://localhost:2222/"]
    server_in(runtime, os.getppid(), 3333, "/srv/c")
    assert [e.url for e in candidates()][0] == "http://localhost:3333/"


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a runtime file to another user")
def test_servers_of_different_users_are_not_guessed(runtime: Path, strangers: list[int]) -> None:
    server_in(runtime, strangers[0], 1111, "/srv/a")
    os.chown(server_in(runtime, strangers[1], 2222, "/srv/a"), 65534, 65534)
    with pytest.raises(AmbiguousServer) as info:
        list(candidates())
    other = pwd.getpwuid(65534).pw_name
    assert f"(root dir /srv/a, user root, pid {strangers[0]})" in info.value.message
    assert f"(root dir /srv/a, user {other}, pid {strangers[1]})" in info.value.message


HUB_ENV = {
    "JUPYTERHUB_PUBLIC_HUB_URL": "https://hub.example.org/jh/hub/",
    "JUPYTERHUB_BASE_URL": "/jh/",
    "JUPYTER_REALTIME_HUB_SERVICE": "realtime",
}


def test_the_hub_service_url_comes_from_the_single_user_environment() -> None:
    assert hub_service_url(HUB_ENV) == "https://hub.example.org/jh/services/realtime/"
    assert hub_service_url(HUB_ENV, "chat") == "https://hub.example.org/jh/services/chat/"
    no_public_url = {**HUB_ENV, "JUPYTERHUB_PUBLIC_HUB_URL": ""}
    assert hub_service_url(no_public_url) is None
    assert hub_service_url({**HUB_ENV, "JUPYTER_REALTIME_HUB_SERVICE": ""}) is None


def test_under_a_hub_the_service_is_found_with_the_users_own_token(
    runtime: Path, monkeypatch: Any
) -> None:
    for name, value in {**HUB_ENV, "JUPYTERHUB_API_TOKEN": "alice-hub-token"}.items():
        monkeypatch.setenv(name, value)
    server_file(runtime, os.getpid(), 8888, "local")  # a server beside it is not taken
    found = list(candidates())
    assert [(e.url, e.token) for e in found] == [
        ("https://hub.example.org/jh/services/realtime/", "alice-hub-token")
    ]
    assert found[0].headers["Authorization"] == "token alice-hub-token"
    # an explicit URL still wins
    assert [e.url for e in candidates("http://127.0.0.1:9999/", "t")] == [
        "http://127.0.0.1:9999/"
    ]
