"""The watch page and the browser client served as standalone ES modules.

Public names: :class:`WatchPageHandler`, :class:`ClientModuleHandler`, :data:`STATIC_DIR`.

* ``GET realtime/static/realtime-client.js``: the browser client (``docs/browser-client.md``)
  as one ES module without dependencies, for any page the server serves (a dashboard in the
  server's files, a custom page of another extension): ``import { RealtimeClient } from
  '<base_url>realtime/static/realtime-client.js'``. ``watch.js`` beside it is the watch
  page's script. Both are built by ``npm run build:standalone`` in ``labextension/``. They are
  code, not data, so they are served without login, as JupyterLab's own scripts are.
* ``GET realtime/watch/<channel>[?history=N]``: a small page, behind Jupyter's login (whose
  ``next`` comes back with the channel's ``:`` as ``%3A``: see :meth:`get_login_url`), that
  shows the output mirrored to ``channel`` (``docs/kernel.md``) live, starting from its last
  ``N`` publications (default 1000, at most 10000). The
  page's script talks to the realtime endpoints like any other client, so the channel
  policy applies there too; the page itself answers 403 when the user may neither subscribe
  to the channel nor read its history. Its Content-Security-Policy allows scripts from the
  server only and images from ``data:`` URLs: a second line of defence behind the sanitizer
  of rich output.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..errors import RealtimeError
from ..protocol import validate_channel
from .context import RealtimeHandlerMixin
from .logs import RedactedLogMixin

__all__ = ["STATIC_DIR", "ClientModuleHandler", "WatchPageHandler"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
HISTORY = 1000  # publications shown when the page opens (the default channel history size)
MAX_HISTORY = 10_000

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{channel} · watch</title>
<style>
  :root {{ color-scheme: light dark; --muted: #888; --bg2: rgba(127,127,127,0.1); }}
  body {{ margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }}
  header {{ position: sticky; top: 0; z-index: 1; padding: 8px 12px; background: Canvas;
            border-bottom: 1px solid var(--bg2); }}
  header h1 {{ font-size: 16px; margin: 0; overflow-wrap: anywhere; }}
  .rw-bar {{ display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; color: var(--muted); }}
  .rw-connection::before {{ content: "●"; margin-right: 4px; color: #f57c00; }}
  .rw-connection[data-state="connected"]::before {{ color: #388e3c; }}
  .rw-connection[data-state="disconnected"]::before {{ color: #d32f2f; }}
  header .jp-realtime-progress {{ max-height: 35vh; overflow-y: auto; }}
  header .jp-realtime-progress:not(:empty) {{ margin-top: 6px; }}
  main {{ padding: 8px 12px 40px; }}
  .rw-follow {{ position: fixed; right: 12px; bottom: 12px; z-index: 2; padding: 6px 12px;
                border: 1px solid var(--muted); border-radius: 16px; background: Canvas;
                color: CanvasText; font: inherit; font-size: 12px; cursor: pointer; }}
  .rw-follow[hidden] {{ display: none; }}
  .rw-cell {{ margin: 10px 0; border-left: 3px solid var(--bg2); padding-left: 8px; }}
  .rw-cell[data-state="running"] {{ border-left-color: #1976d2; }}
  .rw-cell[data-state="error"] {{ border-left-color: #d32f2f; }}
  .rw-cell-header {{ display: flex; gap: 10px; font-size: 12px; color: var(--muted); }}
  .rw-code summary {{ font-size: 12px; color: var(--muted); cursor: pointer; }}
  pre {{ margin: 2px 0; white-space: pre-wrap; overflow-wrap: anywhere;
         font: 12.5px/1.4 ui-monospace, Menlo, Consolas, monospace; }}
  .rw-code pre {{ background: var(--bg2); padding: 6px; }}
  .rw-stderr {{ background: rgba(255, 0, 0, 0.06); }}
  .rw-error {{ background: rgba(255, 0, 0, 0.1); padding: 4px; }}
  .rw-output {{ margin: 4px 0; overflow-x: auto; }}
  .rw-image, .rw-output img, .rw-svg svg {{ max-width: 100%; height: auto; }}
  .rw-gap, .rw-dropped, .rw-muted {{ color: var(--muted); font-style: italic; }}
  table {{ border-collapse: collapse; font-size: 12px; }}
  td, th {{ padding: 2px 6px; border-bottom: 1px solid var(--bg2); }}
</style>
</head>
<body data-base-url="{base_url}" data-channel="{channel}" data-history="{history}">
<header>
  <h1>{channel}</h1>
  <div class="rw-bar"><span class="rw-connection">connecting</span>
  <span class="rw-status">loading</span> <span class="rw-source"></span></div>
</header>
<main class="rw-main"></main>
<button class="rw-follow" type="button" hidden>↓ follow new output</button>
<noscript>This page needs JavaScript.</noscript>
<script type="module" src="{script}"></script>
</body>
</html>
"""


def static_version(name: str) -> str:
    """A cache-busting version of a static file: its modification time."""
    try:
        return str(int((STATIC_DIR / name).stat().st_mtime))
    except OSError:
        return "missing"


class WatchPageHandler(RealtimeHandlerMixin, JupyterHandler):
    """``GET realtime/watch/<channel>``: the watch page (an HTML page, so errors are too)."""

    @property
    def content_security_policy(self) -> str:
        return "; ".join(
            [
                super().content_security_policy,
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self' 'unsafe-inline'",
                "img-src 'self' data: blob:",
                "connect-src 'self'",
                "base-uri 'none'",
                "form-action 'none'",
            ]
        )

    def get_login_url(self) -> str:
        """Jupyter's login page, with ``next`` pointing back here, its ``:`` encoded.

        Jupyter's login handler (``LoginFormHandler._redirect_safe``) reads a ``:`` in
        ``next`` as the end of a URL scheme and turns ``.../watch/team:log`` into
        ``team://log``, a 404 after a successful login; ``%3A`` goes through unchanged, and
        the route decodes it back into the channel's name. (Tornado keeps a login URL that
        already has a query as it is.)
        """
        url = super().get_login_url()
        if "?" in url or self.request.uri is None:
            return url
        return f"{url}?{urlencode({'next': self.request.uri.replace(':', '%3A')})}"

    @web.authenticated
    async def get(self, channel: str) -> None:
        try:
            validate_channel(channel)
        except RealtimeError as exc:
            raise web.HTTPError(400, exc.message) from None
        history = self.get_argument("history", str(HISTORY))
        if not history.isdigit() or int(history) > MAX_HISTORY:
            raise web.HTTPError(400, f"history must be a count of publications, 0 to {MAX_HISTORY}")
        policy, identity = self.context.policy, self.identity()
        if not (
            policy.allows(identity, "subscribe", channel)
            or policy.allows(identity, "history", channel)
        ):
            raise web.HTTPError(403, f"you may not watch {channel}")
        self.xsrf_token  # noqa: B018 (sets the _xsrf cookie that the HTTP transports' POSTs need)
        base_url = self.settings.get("base_url", "/")
        script = url_path_join(base_url, "realtime/static/watch.js")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            PAGE.format(
                base_url=html.escape(base_url),
                channel=html.escape(channel),
                history=int(history),
                script=html.escape(f"{script}?v={static_version('watch.js')}"),
            )
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        JupyterHandler.write_error(self, status_code, **kwargs)


class ClientModuleHandler(RedactedLogMixin, web.StaticFileHandler):
    """``GET realtime/static/<file>``: the standalone ES modules, revalidated on each load
    (by their ETag: a page gets the new client after an upgrade without a stale cache).
    Public on purpose (``@allow_unauthenticated``, so that a server with
    ``allow_unauthenticated_access = False`` knows it is meant to be)."""

    @allow_unauthenticated
    async def get(self, path: str, include_body: bool = True) -> None:
        await super().get(path, include_body)

    @allow_unauthenticated
    def head(self, path: str) -> Awaitable[None]:
        return super().head(path)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        if path.endswith(".js"):
            self.set_header("Content-Type", "text/javascript; charset=UTF-8")
