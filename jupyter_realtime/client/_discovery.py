"""Finding the Jupyter server to talk to.

Public names: :class:`Endpoint`, :func:`candidates`, :func:`describe`.

In order: the ``url`` / ``token`` given in code or on the command line; the environment
variables ``JUPYTER_REALTIME_URL`` / ``JUPYTER_REALTIME_TOKEN`` (the extension sets them
for every kernel its server starts); then Jupyter's list of running servers, the server
that started this process (its parent) first. A client tries them in that order, and asks
again on every reconnection, so a kernel finds its server after the server restarts.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..errors import ErrorCode
from ._errors import Unavailable, error_for

__all__ = ["ENV_TOKEN", "ENV_URL", "Endpoint", "candidates", "describe"]

ENV_URL = "JUPYTER_REALTIME_URL"
ENV_TOKEN = "JUPYTER_REALTIME_TOKEN"
LOOPBACK = ("localhost", "127.0.0.1", "::1", "")


@dataclass(frozen=True)
class Endpoint:
    """A server's base URL (``http://host:port/base_url/``), its token, and where they came from."""

    url: str
    token: str
    source: str

    def http(self, path: str) -> str:
        return urllib.parse.urljoin(self.url.rstrip("/") + "/", path.lstrip("/"))

    def ws(self, path: str = "realtime/ws") -> str:
        url = self.http(path)
        return "ws" + url[4:] if url.startswith("http") else url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    @property
    def loopback(self) -> bool:
        return (urllib.parse.urlsplit(self.url).hostname or "") in LOOPBACK

    def __str__(self) -> str:
        return f"{self.url} (from {self.source})"

    def get_json(self, path: str) -> Any:
        """``GET`` a REST endpoint (blocking); its JSON body, or the typed error it answered."""
        handlers = [urllib.request.ProxyHandler({})] if self.loopback else []
        request = urllib.request.Request(self.http(path), headers=self.headers)
        try:
            with urllib.request.build_opener(*handlers).open(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                by_status = {c.http_status: c for c in ErrorCode}
                code, message = by_status.get(exc.code, ErrorCode.INTERNAL), f"HTTP {exc.code}"
            raise error_for(code, f"{message} ({self.http(path)})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise Unavailable(f"cannot reach {self}: {getattr(exc, 'reason', exc)}") from None


def candidates(
    url: str | None = None, token: str | None = None
) -> tuple[list[Endpoint], list[str]]:
    """Endpoints to try, best first, and a line per place looked at (for error messages)."""
    tried: list[str] = []
    if url:
        tok = token
        if tok is None:  # never send a token to a server it was not issued by
            same = os.environ.get(ENV_URL, "").rstrip("/") == url.rstrip("/")
            tok = os.environ.get(ENV_TOKEN, "") if same else _running_token(url)
        return [Endpoint(url, tok or "", "the url argument")], [f"the url argument {url}"]
    found: list[Endpoint] = []
    env_url = os.environ.get(ENV_URL)
    if env_url:
        tok = token if token is not None else os.environ.get(ENV_TOKEN, "")
        found.append(Endpoint(env_url, tok, f"${ENV_URL}"))
        tried.append(f"${ENV_URL}={env_url}")
    else:
        tried.append(f"${ENV_URL} (not set)")
    servers, note = _running_servers()
    tried.append(note)
    for info in servers:
        tok = token if token is not None else info.get("token", "")
        endpoint = Endpoint(info["url"], tok, f"the running server with pid {info.get('pid')}")
        if all(e.url != endpoint.url or e.token != endpoint.token for e in found):
            found.append(endpoint)
    return found, tried


def describe(tried: list[str]) -> str:
    return "; ".join(tried)


def _running_servers() -> tuple[list[dict[str, Any]], str]:
    """Jupyter's running servers, this process's parent (then grandparent) first."""
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return [], "Jupyter's running servers (jupyter_server is not installed)"
    try:
        servers = list(list_running_servers())
    except Exception as exc:  # a broken runtime file must not hide the other sources
        return [], f"Jupyter's running servers (could not list them: {exc})"
    ancestors = _ancestors()

    def rank(info: dict[str, Any]) -> int:
        pid = info.get("pid")
        return ancestors.index(pid) if pid in ancestors else len(ancestors)

    servers.sort(key=rank)
    where = "Jupyter's running servers"
    if not servers:
        return [], f"{where} (none found)"
    return servers, f"{where} ({', '.join(s.get('url', '?') for s in servers)})"


def _ancestors() -> list[int]:
    """This process's parent pids, nearest first (a kernel's parent is its server)."""
    pids: list[int] = []
    env_parent = os.environ.get("JPY_PARENT_PID", "")
    if env_parent.isdigit():
        pids.append(int(env_parent))
    pid = os.getppid()
    for _ in range(4):
        if pid <= 1:
            break
        pids.append(pid)
        pid = _parent_of(pid)
    return pids


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _running_token(url: str) -> str:
    servers, _ = _running_servers()
    for info in servers:
        if info.get("url", "").rstrip("/") == url.rstrip("/"):
            return str(info.get("token", ""))
    return ""
