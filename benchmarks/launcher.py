"""Starting target servers as subprocesses on free 127.0.0.1 ports, and stopping them by PID."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import FrameType

from benchmarks.targets import Target

REPO = Path(__file__).resolve().parent.parent
_live: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """A port the kernel considers free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(port: int, path: str, headers: dict[str, str], timeout: float = 2.0) -> int:
    """Status code of ``GET path`` on 127.0.0.1:port (0 when nothing answers)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = s.recv(64)
    except OSError:
        return 0
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class Server:
    """One running target server; use as a context manager so it always stops."""

    def __init__(self, target: Target, log_dir: Path) -> None:
        self.target = target
        self.port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{target.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Server:
        env = {**os.environ, **self.target.env}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.target.command(self.port),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the driver, which stops us by PID
            )
        _live[self.proc.pid] = self.proc
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.target.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.target.name} exited at start-up: {self.log_tail()}")
            status = http_status(self.port, self.target.ready_path, self.target.headers)
            if 0 < status < 500 and status not in self.target.not_ready_statuses:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.target.name} not ready in {self.target.startup_timeout}s")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)


def stop_pid(pid: int) -> None:
    """SIGTERM, then SIGKILL after 5 s, for one process this module started."""
    proc = _live.pop(pid, None)
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def stop_all() -> None:
    """Stop every server still running (on exit, errors and Ctrl-C)."""
    for pid in list(_live):
        stop_pid(pid)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def install_handlers() -> None:
    """Stop servers at exit; SIGINT and SIGTERM raise KeyboardInterrupt wherever the driver is.

    Our own SIGINT handler also keeps ``asyncio.run`` from turning Ctrl-C into a cancellation
    that a scenario could absorb.
    """
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
