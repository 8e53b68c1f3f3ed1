"""Real parts for running the docs: a ``jupyter server``, a kernel it started, bash.

- :class:`DocServer`: a ``jupyter server`` subprocess with the extension on a free port, a
  non-root ``base_url``, a token and a home, config and runtime directory of its own (so the
  CLI's discovery of running servers finds it, and only it).
- :class:`Kernel`: a kernel started with ``POST api/kernels`` (so it gets the server's URL
  and token as in real use), driven through its connection file with jupyter_client;
  :meth:`Kernel.run` executes one cell and returns what a frontend would show.
- :func:`run_shell`: the commands of a shell block, one bash process each; long-running
  ones (``curl -N``, ``jupyter realtime subscribe`` without ``--count``, ``watch``) run
  in the background until they printed what is expected, bounded in time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from jupyter_client.blocking import BlockingKernelClient

TOKEN = "docs-token"
BASE_URL = "/a@b/"
DOC_URL = "localhost:8888/"  # what the docs write for the default server
LONG_RUNNING = re.compile(r"(curl\s.*-N\b|jupyter realtime (subscribe|watch)\b(?!.*--count))")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deadline_wait(check: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(0.1)


class DocServer:
    """A ``jupyter server`` with the extension, as a user runs it (see the module doc)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.home = workdir / "home"
        self.runtime = self.home / "runtime"
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL with its base_url, ending in ``/``."""
        return f"http://127.0.0.1:{self.port}{BASE_URL}"

    def http(self, path: str) -> str:
        return self.url + path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {TOKEN}"}

    def env(self) -> dict[str, str]:
        """A user's environment for this server: its home, config and runtime directory."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_REALTIME_")}
        env.update(HOME=str(self.home), JUPYTER_CONFIG_DIR=str(self.home / "config"))
        env.update(JUPYTER_RUNTIME_DIR=str(self.runtime), JUPYTER_DATA_DIR=str(self.home / "data"))
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["T"] = TOKEN
        return env

    def start(self) -> None:
        (self.home / "config").mkdir(parents=True, exist_ok=True)
        # only this extension: the others double the start-up time
        others = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
        extensions = {"jupyter_realtime": True, **dict.fromkeys(others, False)}
        config = {"ServerApp": {"jpserver_extensions": extensions}}
        (self.home / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
        args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={self.port}"]
        args += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--no-browser"]
        args += [f"--IdentityProvider.token={TOKEN}", "--allow-root"]
        args += [f"--ServerApp.base_url={BASE_URL}", f"--ServerApp.root_dir={self.workdir}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        deadline_wait(self.ready, 60, f"jupyter server on port {self.port} (log: {self.log})")

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited: {self.log.read_text()[-3000:]}")
        try:
            reply = httpx.get(self.http("realtime/api/channels"), headers=self.headers, timeout=1)
        except httpx.HTTPError:
            return False
        return reply.status_code == 200

    def get(self, path: str) -> Any:
        reply = httpx.get(self.http(path), headers=self.headers, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def rewrite(self, text: str) -> str:
        """A command as the docs write it, for this server (host, port and base_url)."""
        return text.replace(f"http://{DOC_URL}", self.url).replace(
            f"ws://{DOC_URL}", self.url.replace("http://", "ws://")
        )


@dataclass
class CellResult:
    """What a frontend shows for one executed cell."""

    status: str = ""
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)  # execute_result/display data
    widgets: dict[str, str] = field(default_factory=dict)  # comm id -> model name

    def views(self) -> list[str]:
        """Model names of the widget views shown."""
        ids = [data[WIDGET_VIEW]["model_id"] for data in self.results if WIDGET_VIEW in data]
        return [self.widgets.get(model_id, "?") for model_id in ids]

    def text(self) -> str:
        plain = [str(data.get("text/plain", "")) for data in self.results]
        return "\n".join([self.stdout, self.stderr, self.error, *plain])


def start_kernel(server: DocServer) -> str:
    """Start a kernel with ``POST api/kernels``; its id. The kernel goes on starting up.

    Only HTTP, so it may run on a thread of its own while the tests go on.
    """
    reply = httpx.post(server.http("api/kernels"), headers=server.headers,
                       json={"name": "python3"}, timeout=60)  # fmt: skip
    reply.raise_for_status()
    return str(reply.json()["id"])


class Kernel:
    """A kernel the server started, and a jupyter_client on its connection file."""

    def __init__(self, server: DocServer, kernel_id: str | None = None) -> None:
        self.server = server
        self.id = kernel_id or start_kernel(server)
        path = server.runtime / f"kernel-{self.id}.json"
        deadline_wait(path.exists, 30, f"connection file {path}")
        self.client = BlockingKernelClient(connection_file=str(path))
        self.client.load_connection_file()
        self.client.start_channels(hb=False)  # its first beat may come after the first check
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 90) -> CellResult:
        result = CellResult()
        comms: dict[str, str] = {}

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                name = content["name"]
                setattr(result, name, getattr(result, name) + content["text"])
            elif kind in ("execute_result", "display_data"):
                result.results.append(content["data"])
            elif kind == "error":
                result.error += "\n".join(content["traceback"])
            elif kind == "comm_open":
                state = content.get("data", {}).get("state", {})
                comms[content["comm_id"]] = str(state.get("_model_name", "?"))

        try:
            reply = self.client.execute_interactive(code, output_hook=hook, timeout=timeout)
        except TimeoutError:
            self.interrupt()  # so that the page's next block finds the kernel idle
            raise
        result.status = reply["content"]["status"]
        if result.status == "error" and not result.error:
            result.error = "\n".join(reply["content"].get("traceback", []))
        result.widgets = comms
        return result

    def interrupt(self) -> None:
        url = self.server.http(f"api/kernels/{self.id}/interrupt")
        httpx.post(url, headers=self.server.headers, timeout=30)
        self.client.execute_interactive("", timeout=30)  # drains what the cell still sends

    def stop(self) -> None:
        self.client.stop_channels()
        stop_kernel(self.server, self.id)


def stop_kernel(server: DocServer, kernel_id: str) -> None:
    httpx.delete(server.http(f"api/kernels/{kernel_id}"), headers=server.headers, timeout=30)


@dataclass
class Command:
    """One command of a shell block, and the output it printed."""

    text: str
    background: bool = False
    code: int | None = None
    out: str = ""
    err: str = ""


class Background:
    """A long-running command, read on threads, stopped when its block is done."""

    def __init__(self, command: Command, env: dict[str, str], cwd: Path) -> None:
        self.command = command
        self.proc = subprocess.Popen(["bash", "-c", command.text], env=env, cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)  # fmt: skip
        self.threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, "out"), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, "err"), daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _read(self, stream: Any, name: str) -> None:
        for line in iter(stream.readline, b""):
            setattr(self.command, name, getattr(self.command, name) + line.decode(errors="replace"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for thread in self.threads:
            thread.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self.command.code = self.proc.returncode


def run_shell(
    commands: list[str],
    server: DocServer,
    cwd: Path,
    ready: Any = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> list[Command]:
    """Run ``commands`` in order with bash; background ones until ``ready(command)``.

    ``ready`` says whether a background command printed what it should (default: a line);
    it is waited for (at most 20 s) once every foreground command ran, and then the
    background commands are interrupted (SIGINT, as Ctrl-C).
    """
    env = env or server.env()
    done: list[Command] = []
    running: list[Background] = []
    try:
        for text in commands:
            command = Command(server.rewrite(text))
            done.append(command)
            if LONG_RUNNING.search(text):
                command.background = True
                running.append(Background(command, env, cwd))
                time.sleep(1.5)  # subscribed before the next command publishes
                continue
            proc = subprocess.run(["bash", "-c", command.text], env=env, cwd=cwd,
                                  capture_output=True, timeout=timeout)  # fmt: skip
            command.code = proc.returncode
            command.out = proc.stdout.decode(errors="replace")
            command.err = proc.stderr.decode(errors="replace")
        check = ready or (lambda command: command.out.strip() != "")
        for background in running:
            try:
                what = f"output of {background.command.text!r}"
                deadline_wait(lambda b=background: check(b.command), 20, what)
            except TimeoutError:
                pass  # the caller's assertions say what is missing
    finally:
        for background in running:
            background.stop()
    return done
