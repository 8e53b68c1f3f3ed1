"""Finding the Jupyter server to talk to.

Public names: :class:`Endpoint`, :func:`candidates`, :func:`describe`.

In order: the ``url`` / ``token`` given in code or on the command line; the environment
variables ``JUPYTER_REALTIME_URL`` / ``JUPYTER_REALTIME_TOKEN`` (the extension sets them
for every kernel its server starts); inside a JupyterHub single-user server whose hub runs
the realtime service (``JUPYTER_REALTIME_HUB_SERVICE``, ``docs/jupyterhub.md``), that
service under the hub's public URL with the user's own hub token
(``JUPYTERHUB_API_TOKEN``); then Jupyter's list of running servers, the server
that started this process (its parent) first. A client tries them in that order, and asks
again on every reconnection, so a client finds its server again after the server restarts
with a new token (or, without a URL, on another port).

Without a URL, the running servers are a guess unless one of them started this process
(a kernel's or a terminal's own server). Among servers of one user and one root dir the
first is as good as any (the command line says which it took); between servers of
different users or root dirs the client does not guess: :class:`AmbiguousServer` lists
them and says how to choose.

In a kernel that a Jupyter server started, every request also carries the kernel's tag
(:mod:`jupyter_realtime.kernel_tag`), so that the server names the kernel as the sender.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import kernel_tag
from ..errors import ErrorCode
from ..redact import redact_url
from ._errors import AmbiguousServer, Unavailable, error_for

__all__ = [
    "ENV_HUB_SERVICE", "ENV_TOKEN", "ENV_URL", "Endpoint", "candidates", "describe",
    "hub_service_url",
]

ENV_URL = "JUPYTER_REALTIME_URL"
ENV_TOKEN = "JUPYTER_REALTIME_TOKEN"
ENV_HUB_SERVICE = "JUPYTER_REALTIME_HUB_SERVICE"
LOOPBACK = ("localhost", "127.0.0.1", "::1", "")


@dataclass(frozen=True)
class Endpoint:
    """A server's base URL (``http://host:port/base_url/``), its token, and where they came
    from; ``root_dir`` is the server's root dir when its runtime file names it."""

    url: str
    token: str
    source: str
    root_dir: str = ""
    discovered: bool = False  # found among the running servers, not given

    def http(self, path: str) -> str:
        return urllib.parse.urljoin(self.url.rstrip("/") + "/", path.lstrip("/"))

    def ws(self, path: str = "realtime/ws") -> str:
        url = self.http(path)
        return "ws" + url[4:] if url.startswith("http") else url

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        tag = this_kernel_tag(self.token)
        if tag:
            headers[kernel_tag.HEADER] = tag
        return headers

    @property
    def loopback(self) -> bool:
        return (urllib.parse.urlsplit(self.url).hostname or "") in LOOPBACK

    def __str__(self) -> str:
        return f"{redact_url(self.url)} (from {self.source})"

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
    url: str | None = None, token: str | None = None, tried: list[str] | None = None
) -> Iterator[Endpoint]:
    """Endpoints to try, best first, found lazily; each place looked at goes to ``tried``.

    With a URL (given, or from the environment), only that server is tried: with the
    token given, else the environment's, else the one its runtime file holds now (a
    restarted server has a new token). Without one, every running server.
    """
    tried = [] if tried is None else tried
    env_url = os.environ.get(ENV_URL, "")
    target, source = (url, "the url argument") if url else (env_url, f"${ENV_URL}")
    if target:
        target, pasted = _split_token(target)
        token = pasted if token is None and pasted else token
        tried.append(f"{source} {target}")
        env_token = os.environ.get(ENV_TOKEN, "") if _same_server(env_url, target) else None
        first = token if token is not None else env_token
        if first is not None:
            yield Endpoint(target, first, source)
        if token is None:  # a restarted server has a new token: its runtime file has it
            servers = _running_servers(tried)
            fresh = [i.get("token", "") for i in servers if _same_server(i.get("url", ""), target)]
            for tok in dict.fromkeys(t for t in fresh if t != first):
                yield Endpoint(target, tok, f"{source}, with the token of its runtime file")
            if first is None and not fresh:
                yield Endpoint(target, "", f"{source}, without a token")
        return
    tried.append(f"${ENV_URL} (not set)")
    service = hub_service_url(os.environ)
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if service is not None and hub_token:
        tried.append(f"JupyterHub's realtime service {service}")
        yield Endpoint(service, token if token is not None else hub_token, "JupyterHub")
        return
    servers = _running_servers(tried)
    _refuse_to_guess(servers)
    for info in servers:
        tok = token if token is not None else info.get("token", "")
        source = f"the running server with pid {info.get('pid')}"
        yield Endpoint(info["url"], tok, source, _root_dir(info), discovered=True)


def hub_service_url(env: Mapping[str, str], name: str = "") -> str | None:
    """The URL of JupyterHub's realtime service ``name`` (default:
    ``$JUPYTER_REALTIME_HUB_SERVICE``) under the hub's public URL, from the environment
    JupyterHub gives a single-user server; None outside one, or without a public URL."""
    name = name or env.get(ENV_HUB_SERVICE, "")
    public = env.get("JUPYTERHUB_PUBLIC_HUB_URL", "")
    if not name or not public:
        return None
    parts = urllib.parse.urlsplit(public)
    base = env.get("JUPYTERHUB_BASE_URL", "") or "/"
    path = base.rstrip("/") + f"/services/{urllib.parse.quote(name)}/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _split_token(url: str) -> tuple[str, str]:
    """A URL as Jupyter prints it (``http://host:8888/lab?token=T``): the server's base URL,
    without the query, and the token it carries ('' if none). Other URLs are kept as given."""
    parts = urllib.parse.urlsplit(url)
    tokens = urllib.parse.parse_qs(parts.query).get("token")
    if not tokens:
        return url, ""
    path = re.sub(r"/(lab|tree|notebooks)(/.*)?$", "/", parts.path)
    return urllib.parse.urlunsplit(parts._replace(path=path, query="", fragment="")), tokens[0]


def _root_dir(info: dict[str, Any]) -> str:
    return str(info.get("root_dir") or info.get("notebook_dir") or "")


def _owner(info: dict[str, Any]) -> str:
    uid = info.get("_owner")
    if uid is None:
        return ""
    try:
        import pwd  # POSIX only

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def _refuse_to_guess(servers: list[dict[str, Any]]) -> None:
    """Raise :class:`AmbiguousServer` when the running servers differ in user or root dir
    and none of them started this process."""
    if len(servers) < 2 or servers[0]["pid"] in _ancestors():
        return
    kinds = {(_owner(i), os.path.realpath(_root_dir(i)) if _root_dir(i) else "") for i in servers}
    if len(kinds) < 2:
        return
    listed = "; ".join(
        f"{i.get('url')} (root dir {_root_dir(i) or 'unknown'}, user {_owner(i) or 'unknown'}, "
        f"pid {i.get('pid')})"
        for i in servers
    )
    raise AmbiguousServer(
        f"{len(servers)} Jupyter servers are running, of different users or root dirs: "
        f"{listed}. Choose one with --url URL (and --token TOKEN), or set {ENV_URL} "
        f"(and {ENV_TOKEN})"
    )


def this_kernel_tag(token: str) -> str | None:
    """This process's kernel tag for a server with ``token``, when it is a kernel that a
    Jupyter server started (its connection file is ``kernel-<id>.json``), else None."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")  # never imported here: only looked at
    app_class = getattr(kernelapp, "IPKernelApp", None)
    if app_class is None or not app_class.initialized():
        return None
    app = app_class.instance()
    found = re.fullmatch(r"kernel-(.+)\.json", Path(app.connection_file or "").name)
    key = getattr(getattr(app, "session", None), "key", b"")
    if not found or not key:
        return None
    return kernel_tag.make(bytes(key), found[1], token)


def describe(tried: list[str]) -> str:
    return "; ".join(tried)


def _same_server(a: str, b: str) -> bool:
    if not a or not b:
        return False
    x, y = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    hosts = {x.hostname or "", y.hostname or ""}
    same_host = len(hosts) == 1 or hosts <= set(LOOPBACK)
    return same_host and x.port == y.port and x.path.rstrip("/") == y.path.rstrip("/")


def _running_servers(tried: list[str]) -> list[dict[str, Any]]:
    """Jupyter's running servers, this process's parent (then grandparent) first.

    Reads the runtime files as ``jupyter_server.serverapp.list_running_servers`` does,
    without importing jupyter_server (seconds, in a kernel).
    """
    where = "Jupyter's running servers"
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime = Path(jupyter_runtime_dir())
    except ImportError:
        tried.append(f"{where} (jupyter_core is not installed)")
        return []
    servers = []
    for path in sorted(runtime.glob("jpserver-*.json")):
        try:
            info = json.loads(path.read_text())
            info["_owner"] = path.stat().st_uid
            if not _alive(int(info["pid"])):
                continue  # its server is gone
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable
        servers.append(info)
    ancestors = _ancestors()
    servers.sort(
        key=lambda i: ancestors.index(i["pid"]) if i["pid"] in ancestors else len(ancestors)
    )
    listed = ", ".join(str(i.get("url")) for i in servers) or "none found"
    tried.append(f"{where} in {runtime} ({listed})")
    return servers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    return True


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
