"""The Python client of jupyter-realtime, for kernels, scripts and the CLI.

Public names: :func:`channel`, :func:`connect` (blocking, any thread), :class:`AsyncClient`
(anyio), their channels and subscriptions, :class:`Message`, and one exception per error
code of the wire protocol (``docs/protocol.md``) and a few for finding the server
(:class:`AmbiguousServer`, :class:`NotRealtime`), all subclasses of
:class:`~jupyter_realtime.errors.RealtimeError`. See ``docs/client.md``.

In a kernel started by a Jupyter server with the extension, ``channel("demo")`` needs no
URL or token: the server tells its kernels where it is (``_discovery``).
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ErrorCode, RealtimeError
from ..protocol import Position
from ._channel import AsyncChannel, AsyncSubscription
from ._connection import AsyncClient, State
from ._errors import (
    AmbiguousServer,
    BadKey,
    BadRequest,
    ConnectionLost,
    Forbidden,
    GapError,
    Internal,
    NotFound,
    NotRealtime,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from ._message import Message
from ._sync import Channel, Client, Subscription

__all__ = [
    "AmbiguousServer",
    "AsyncChannel",
    "AsyncClient",
    "AsyncSubscription",
    "BadKey",
    "BadRequest",
    "Channel",
    "Client",
    "ConnectionLost",
    "ErrorCode",
    "Forbidden",
    "GapError",
    "Internal",
    "Message",
    "NotFound",
    "NotRealtime",
    "Position",
    "RateLimited",
    "RealtimeError",
    "State",
    "Subscription",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "channel",
    "connect",
    "default_client",
]

_default: Client | None = None
_lock = threading.Lock()


def connect(url: str | None = None, token: str | None = None, **options: Any) -> Client:
    """A new blocking client (options as :class:`AsyncClient`); close it when done."""
    return Client(url, token, **options)


def default_client() -> Client:
    """The process's shared client, connected on first use (again if it was closed)."""
    global _default
    with _lock:
        if _default is None or _default.state is State.CLOSED:
            _default = Client()
        return _default


def channel(name: str) -> Channel:
    """The channel ``name`` on the shared client: ``channel("demo").publish({"x": 1})``."""
    return default_client().channel(name)
