"""``jupyter realtime`` against what is really there: a Jupyter server without the extension,
a JupyterHub's own URL, and several running servers to choose from (real ``jupyter server``
subprocesses and their runtime files in a temporary runtime dir)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_process import Server, free_port, run_cli, started
from tornado import httpserver, web

TOKEN = "cli-servers-token"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: nothing found unless the test says where."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER")}
    clean.pop("JPY_PARENT_PID", None)
    clean.pop("JUPYTERHUB_USER", None)
    return {**clean, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}


def server(tmp_path: Path, root: str, realtime: bool = True) -> Server:
    (tmp_path / root).mkdir(exist_ok=True)
    return Server(tmp_path, tmp_path / root, tmp_path / "runtime", TOKEN, realtime)


def test_a_jupyter_server_without_the_extension_is_named_as_such(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with started(server(tmp_path, "plain", realtime=False)) as (plain,):
        results = [
            run_cli("--url", plain.url, "--token", token, "publish", "demo", "1", env=env)
            for token in (TOKEN, "not-its-token")
        ]
    for code, out, err in results:
        assert (code, out) == (3, ""), err
        assert err.startswith(f"jupyter realtime: error: no jupyter-realtime at {plain.url}: ")
        assert "a Jupyter server (version " in err and "jupyter_realtime extension" in err
        assert "refused" not in err and err.count("\n") == 1


class HubLike(web.RequestHandler):
    """Answers as JupyterHub does outside a user's server: its version header on every
    response, paths outside /hub/ redirected there, and 403 for a token it does not know."""

    def set_default_headers(self) -> None:
        self.set_header("X-JupyterHub-Version", "5.4.0")

    def get(self, path: str) -> None:
        if not path.startswith("hub/"):
            self.redirect(f"/hub/{path}")
            return
        self.set_status(403)
        self.finish({"status": 403, "message": "Forbidden"})


@pytest.fixture
def hub() -> Iterator[str]:
    """A tiny tornado app on a free port, in a thread of its own."""
    port = free_port()
    loop = asyncio.new_event_loop()
    listening = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        http = httpserver.HTTPServer(web.Application([(r"/(.*)", HubLike)]))
        http.listen(port, "127.0.0.1")
        listening.set()
        loop.run_forever()
        http.stop()
        loop.run_until_complete(http.close_all_connections())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert listening.wait(10)
    yield f"http://127.0.0.1:{port}/"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_a_jupyterhub_url_is_recognised(hub: str, env: dict[str, str]) -> None:
    for url, user in ((hub, ""), (hub + "hub/", "alice")):
        code, out, err = run_cli(
            "--url", url, "--token", TOKEN, "history", "demo",
            env={**env, "JUPYTERHUB_USER": user} if user else env,
        )  # fmt: skip
        assert (code, out) == (3, ""), err
        assert err.startswith(
            f"jupyter realtime: error: this looks like a JupyterHub 5.4.0 at {url}"
        )
        assert f"use your server's URL, {hub}user/{user or 'NAME'}/" in err
        assert "refused" not in err and err.count("\n") == 1
    # a user's server behind the hub sends the hub's header too: not called the hub
    code, out, err = run_cli("--url", hub + "user/alice/", "--token", TOKEN, "channels", env=env)
    assert (code, out) == (3, ""), err
    assert err.startswith(f"jupyter realtime: error: no jupyter-realtime at {hub}user/alice/: ")
    assert "redirected to /hub/user/alice/realtime/api/channels" in err
    assert "JupyterHub" not in err and "refused" not in err


def test_two_servers_are_named_and_different_root_dirs_are_not_guessed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with started(server(tmp_path, "project"), server(tmp_path, "project")) as (a, b):
        code, out, err = run_cli("publish", "pick", "1", env=env)
        assert code == 0, err
        (line,) = err.splitlines()  # one line saying which server it took, and its root dir
        used = a if a.url in line else b
        assert line == (
            f"jupyter realtime: using {used.url} (root dir {tmp_path / 'project'}; "
            f"the running server with pid {used.proc.pid})"  # type: ignore[union-attr]
        )
        assert '"offset":1' in out
        with started(server(tmp_path, "elsewhere")) as (c,):
            code, out, err = run_cli("publish", "pick", "2", env=env)
    assert (code, out) == (2, "")
    assert err.startswith("jupyter realtime: error: 3 Jupyter servers are running, of different ")
    for s in (a, b, c):
        assert f"{s.url} (root dir {s.root_dir}, user " in err
    assert "--url URL" in err and "JUPYTER_REALTIME_URL" in err and err.count("\n") == 1
