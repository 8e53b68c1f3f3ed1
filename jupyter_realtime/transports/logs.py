"""Tornado's logging of a failed request, without the secrets of its URL.

Public name: :class:`RedactedLogMixin`.

Tornado logs an ``HTTPError`` raised by a handler as ``400 GET /path?query (ip): message``
and any other exception with the request's full URI, query string included. The realtime
endpoints take ``?token=`` (EventSource and WebSocket cannot set headers), so those lines
would hold the user's token. jupyter_server scrubs its access log, not these lines; every
handler of the extension logs them through :func:`~jupyter_realtime.redact.redact_url`.
"""

from __future__ import annotations

from types import TracebackType

from tornado import web
from tornado.log import app_log, gen_log

from ..redact import redact_url

__all__ = ["RedactedLogMixin"]


class RedactedLogMixin:
    """``log_exception`` as tornado's (warnings for ``HTTPError`` with a log message,
    errors with a traceback for the rest), with the request's URI redacted."""

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        request = self.request  # type: ignore[attr-defined]
        summary = f"{request.method} {redact_url(request.uri or '')} ({request.remote_ip})"
        if isinstance(value, web.HTTPError):
            message = value.log_message
            if message and value.args:
                message = message % value.args
            if message:
                gen_log.warning("%d %s: %s", value.status_code, summary, message)
            return
        app_log.error("Uncaught exception %s", summary, exc_info=(typ, value, tb))  # type: ignore[arg-type]
