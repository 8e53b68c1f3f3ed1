"""What answered at a URL that refused the WebSocket: jupyter-realtime, or something else?

Public names: :func:`diagnose`, :func:`explain`.

A WebSocket handshake that fails with an HTTP status says little: a JupyterHub's own URL,
a Jupyter server without the extension and a server that refuses the token can all answer
403 or 404. Before calling it a refusal, the client asks ``realtime/api/channels`` over
plain HTTP (redirects not followed) and reads who answered:

- jupyter-realtime answers the channel list, or an error in its JSON body
  (``{"error": {"code", "message"}}``, ``docs/protocol.md``): then the status is the truth
  (a 403 is a refused token).
- JupyterHub marks every response with ``X-JupyterHub-Version`` and redirects paths that
  are not its own to ``.../hub/...``: outside ``.../user/NAME/`` (whose single-user servers
  send the header too), the user gave the hub's URL, not her server's (nor the realtime
  service's, ``.../services/realtime/``, which answers as jupyter-realtime).
- Anything else is not jupyter-realtime. A Jupyter server says so at ``api``
  (``{"version": ...}``, without authentication).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

from websockets.exceptions import InvalidStatus

from ..errors import RealtimeError
from ..redact import redact_url
from ._discovery import Endpoint
from ._errors import NotRealtime, connect_error

__all__ = ["diagnose", "explain"]

HUB_HEADER = "X-JupyterHub-Version"
TIMEOUT = 10.0
MAX_BODY = 1 << 16


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer to read, not a place to go


def _get(endpoint: Endpoint, path: str, auth: bool = True) -> Answer | None:
    handlers: list[Any] = [_NoRedirect()]
    if endpoint.loopback:
        handlers.append(urllib.request.ProxyHandler({}))
    headers = endpoint.headers if auth else {}
    request = urllib.request.Request(endpoint.http(path), headers=headers)
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=TIMEOUT) as response:
            return Answer(response.status, response.headers, response.read(MAX_BODY))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers, exc.read(MAX_BODY))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _is_realtime(answer: Answer) -> bool:
    body = answer.json()
    if not isinstance(body, dict):
        return False
    if answer.status == 200:
        return isinstance(body.get("channels"), list)
    error = body.get("error")
    return isinstance(error, dict) and {"code", "message"} <= set(error)


def _hub_version(headers: Any) -> str | None:
    if headers is None:
        return None
    version = headers.get(HUB_HEADER)
    location = headers.get("Location") or ""
    if version is None and "/hub/" in urllib.parse.urlsplit(location).path:
        return ""
    return None if version is None else str(version)


def _hub_message(endpoint: Endpoint, version: str) -> str:
    parts = urllib.parse.urlsplit(endpoint.url)
    prefix = parts.path.split("/hub/", 1)[0].rstrip("/") + "/"
    root = urllib.parse.urlunsplit(parts._replace(path=prefix, query="", fragment=""))
    name = os.environ.get("JUPYTERHUB_USER") or "NAME"
    which = f" {version}" if version else ""
    return (
        f"this looks like a JupyterHub{which} at {endpoint.url}, not a Jupyter server: use your "
        f"server's URL, {root}user/{name}/ (with a token from {root}hub/token), or, when the "
        f"hub runs the realtime service, {root}services/realtime/ with a hub API token"
    )


def diagnose(endpoint: Endpoint, status: int, headers: Any) -> NotRealtime | None:
    """A :class:`NotRealtime` naming what answered at ``endpoint`` instead of jupyter-realtime
    (the WebSocket handshake got ``status`` with ``headers``), or None when jupyter-realtime
    did answer (or nothing could be learnt): then the status stands. Blocking (HTTP)."""
    answer = _get(endpoint, "realtime/api/channels")
    if answer is not None and _is_realtime(answer):
        return None
    # a user's own server (.../user/NAME/) sends JupyterHub's header too: not the hub's URL
    if "/user/" not in urllib.parse.urlsplit(endpoint.url).path:
        for seen in (headers, answer.headers if answer is not None else None):
            version = _hub_version(seen)
            if version is not None:
                return NotRealtime(_hub_message(endpoint, version))
    if answer is None:
        return None
    where = f"no jupyter-realtime at {endpoint.url}"
    api = _get(endpoint, "api", auth=False)
    about = api.json() if api is not None and api.status == 200 else None
    if isinstance(about, dict) and isinstance(about.get("version"), str):
        return NotRealtime(
            f"{where}: a Jupyter server (version {about['version']}) answers there, without the "
            "jupyter_realtime extension; enable it (jupyter server extension enable "
            "jupyter_realtime) and restart that server, or give the URL of one that has it"
        )
    kind = answer.headers.get("Content-Type", "no content type").split(";")[0]
    location = answer.headers.get("Location")
    moved = f", redirected to {redact_url(location)}" if location else ""
    return NotRealtime(
        f"{where}: it answered HTTP {answer.status} ({kind}{moved}) to realtime/api/channels "
        f"and {status} to the WebSocket; is this the URL of a Jupyter server (with its "
        "base_url) that runs jupyter-realtime?"
    )


def explain(failures: list[tuple[Endpoint, Exception]]) -> RealtimeError:
    """:func:`~._errors.connect_error` for these failed connections, after asking what
    answered where a handshake got an HTTP status. Blocking (HTTP)."""
    explained: list[tuple[Endpoint, Exception]] = []
    for endpoint, exc in failures:
        if isinstance(exc, InvalidStatus):
            response = exc.response
            exc = diagnose(endpoint, response.status_code, response.headers) or exc
        explained.append((endpoint, exc))
    return connect_error(explained)
