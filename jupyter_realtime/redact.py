"""Secrets out of URLs, for log lines and messages.

Public name: :func:`redact_url`.

Tokens travel in URLs (``?token=`` for EventSource and WebSocket, which cannot set headers)
and passwords in broker URLs (``redis://:password@host``, ``?password=``), so every URL the
extension logs or puts in an error goes through :func:`redact_url` first. The query keys
it hides are those jupyter_server's access log hides, and ``password``/``secret``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url"]

SECRET_KEYS = ("token", "auth", "key", "code", "state", "xsrf", "password", "secret")
HIDDEN = "[secret]"


def redact_url(url: str) -> str:
    """``url`` with its password (``user:***@``) and secret query values hidden; the rest
    (scheme, host, path, other parameters) as it was, so the line still says where."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL (a bad port): hide every query value, keep the rest
        path, sep, query = url.partition("?")
        return path + sep + _query(query, everything=True) if sep else url
    netloc = parts.netloc
    if password is not None:
        user = f"{parts.username}:***@" if parts.username else ":***@"
        netloc = user + netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=netloc, query=_query(parts.query)))


def _query(query: str, everything: bool = False) -> str:
    fields = []
    for field in query.split("&") if query else []:
        key, sep, _value = field.partition("=")
        if sep and (everything or any(s in key.lower() for s in SECRET_KEYS)):
            field = f"{key}={HIDDEN}"
        fields.append(field)
    return "&".join(fields)
