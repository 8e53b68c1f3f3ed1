"""What every transport handler shares: the hub, the limits, the open sessions.

Public names: :class:`RealtimeContext`, :class:`RealtimeHandlerMixin`.
Handlers get the context through their URL spec (``initialize(context=...)``), never a
global. The mixin gives them Jupyter's identity as an :class:`Identity`, the contract's
JSON error bodies, the enabled-transport check, and Jupyter's authorizer (``read`` on the
``realtime`` resource for every request; ``write`` decides whether the identity may publish).

Identity (``docs/security.md``): Jupyter gives a request made with the server's shared token
and no login cookie a new random user each time (:mod:`.anonymous` tells those users
apart from users an identity provider names). Such a request is the *token holder*
instead, ``RealtimeContext.token_user``, and when it carries a kernel tag that verifies
(:mod:`jupyter_realtime.kernel_tag`), that user's kernel: a stable name either way, stamped
here and never taken from the client. Its display name (``sender_name`` of its publications,
``name`` in presence) is the identity provider's ``display_name`` for a user, and
"USER's kernel (NOTEBOOK)" for a kernel (:mod:`.names`). A request with a login cookie keeps
Jupyter's user; a token-only request is not given one (so a client that keeps cookies stays
the same user). When the identity provider names the user of a token (even the shared one),
that user is the identity on every transport, as ``/api/me`` says.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import time
from dataclasses import dataclass, field
from http.client import responses
from typing import Any

import orjson
from tornado import web
from traitlets import TraitError

from .. import kernel_tag
from ..errors import SESSION_EXPIRED, SHUTDOWN, SLOW_CONSUMER, ErrorCode, RealtimeError
from ..hub import Hub
from ..limits import Limits, over_budget
from ..policy import Policy
from ..protocol import max_frame_bytes
from ..session import Identity, Session, Transport
from . import fastwrite
from ._compat import response_finished
from .anonymous import is_anonymous
from .logs import RedactedLogMixin
from .names import kernel_display_name

__all__ = ["RealtimeContext", "RealtimeHandlerMixin"]

log = logging.getLogger("jupyter_realtime.transports")


@dataclass
class RealtimeContext:
    """Shared state of the transports of one server (see ``RealtimeApp`` for each knob)."""

    hub: Hub
    transports: set[str] = field(default_factory=lambda: {"ws", "sse", "stream", "poll"})
    jsonp_enabled: bool = False
    outbox_limit: int = 4 << 20
    heartbeat_interval: float = 15.0
    session_timeout: float = 60.0
    poll_timeout: float = 25.0
    sse_retry_ms: int = 2000
    token_user: str = "token"
    # False in the JupyterHub service: its own API token names the service, never a user
    token_holders: bool = True
    policy: Policy = field(default_factory=Policy)
    limits: Limits = field(default_factory=Limits)
    # open HTTP sessions by id, and the streams that get heartbeats
    sessions: dict[str, Session] = field(default_factory=dict)
    streams: set[Any] = field(default_factory=set)
    _expiry: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_outbox_limit(self.outbox_limit, self.hub.max_message_size)

    def new_session(self, transport: Transport, identity: Identity) -> Session:
        """A session under this server's policy and limits (``rate_limited`` past them)."""
        return Session(self.hub, transport, identity, policy=self.policy, limits=self.limits)

    def check_outboxes(self) -> None:
        """Drop the largest outboxes while all of them hold more than the budget."""
        budget = self.limits.max_outbox_total
        if not budget:
            return
        sessions = [s for conns in self.limits.connections.values() for s in conns]
        sizes = [(s, outbox_bytes(s.transport)) for s in sessions if isinstance(s, Session)]
        for session in over_budget(sizes, budget):
            log.warning("outboxes above %d bytes: dropping session %s", budget, session.id)
            session.close(SLOW_CONSUMER)

    def add_session(self, session: Session) -> None:
        self.sessions[session.id] = session
        self.touch(session)

    def touch(self, session: Session, pinned: bool = False) -> None:
        """Keep a session alive (``pinned``: while a request holds it)."""
        deadline = float("inf") if pinned else time.monotonic() + self.session_timeout
        self._expiry[session.id] = deadline

    def remove_session(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        self._expiry.pop(session.id, None)

    def sweep(self, now: float | None = None) -> None:
        """Heartbeat every stream and end sessions nobody came back for."""
        now = time.monotonic() if now is None else now
        for stream in list(self.streams):
            stream.heartbeat()
        for sid, deadline in list(self._expiry.items()):
            if deadline < now:
                session = self.sessions.get(sid)
                self.remove_session(session) if session else self._expiry.pop(sid, None)
                if session is not None:
                    session.close(SESSION_EXPIRED)

    def shutdown(self) -> None:
        """Close every session now (a WebSocket's would otherwise wait for its close
        handshake), so that their cleanup is scheduled before the broker closes."""
        open_sessions = [s for conns in self.limits.connections.values() for s in conns]
        for session in [*self.sessions.values(), *open_sessions]:
            if isinstance(session, Session):
                session.close(SHUTDOWN)
        for stream in list(self.streams):
            stream.close(SHUTDOWN)


class RealtimeHandlerMixin(RedactedLogMixin):
    """For Jupyter handlers of the realtime endpoints (their failures logged without the
    token of their URL)."""

    context: RealtimeContext
    transport_name: str | None = None
    auth_resource = "realtime"

    def initialize(self, context: RealtimeContext) -> None:
        self.context = context

    @property
    def hub(self) -> Hub:
        return self.context.hub

    async def prepare(self, *args: Any, **kwargs: Any) -> Any:
        await super().prepare(*args, **kwargs)  # type: ignore[misc]
        handler: Any = self
        self._may_publish = False
        if response_finished(handler) or handler.current_user is None:
            return  # answered already, or @authenticated answers 403
        if not await self.jupyter_allows("read"):
            raise web.HTTPError(403, "Jupyter's authorizer denies read on realtime")
        self._may_publish = await self.jupyter_allows("write")
        self._token_holder = await self.token_holder()
        self._kernel_name = ""
        if self._token_holder is not None and self._token_holder[1]:
            user, kernel = self._token_holder
            if not user:  # a user the identity provider names: shown by its own name
                named = handler.current_user
                user = getattr(named, "display_name", "") or named.username
            manager = handler.settings.get("session_manager")
            self._kernel_name = await kernel_display_name(manager, user, kernel)

    async def jupyter_allows(self, action: str) -> bool:
        handler: Any = self
        allowed = handler.authorizer.is_authorized(
            handler, handler.current_user, action, self.auth_resource
        )
        if inspect.isawaitable(allowed):
            allowed = await allowed
        return bool(allowed)

    async def token_holder(self) -> tuple[str, str] | None:
        """``(user, kernel id or '')`` for a request made with the server's shared token (or
        to a server without authentication) and no login cookie, else None. ``user`` is
        ``token_user`` when Jupyter made up an anonymous user for the request, and ``''``
        when the identity provider named one (a provider that maps tokens to users): that
        user stays Jupyter's, only the kernel its tag proves is added."""
        handler: Any = self
        if not self.context.token_holders:
            return None
        provider = handler.identity_provider
        shared = getattr(provider, "token", "") or ""
        if shared:
            presented = getattr(provider, "get_token", lambda h: None)(handler) or ""
            if not handler.token_authenticated or not hmac.compare_digest(
                presented.encode(), shared.encode()
            ):
                return None
        elif getattr(provider, "auth_enabled", True):
            return None  # passwords, JupyterHub...: the identity provider's users are real
        cookie_user = provider.get_user_cookie(handler)
        if inspect.isawaitable(cookie_user):
            cookie_user = await cookie_user
        kernel = self.tagged_kernel(shared)
        named = cookie_user is None and not is_anonymous(handler, handler.current_user)
        if cookie_user is not None and not kernel:
            return None  # a browser: the user it logged in as
        if cookie_user is None:
            # Jupyter logs a token-only request in with a cookie (for a new anonymous user,
            # or the named one); a script's cookie jar would then turn it into that cookie's
            # user from its next request, and the token would no longer decide who it is
            handler.clear_cookie(provider.get_cookie_name(handler), path=handler.base_url)
        if named:
            return ("", kernel) if kernel else None
        return self.context.token_user, kernel

    def tagged_kernel(self, token: str) -> str:
        """The server's kernel whose tag the request carries and proves, else ''."""
        handler: Any = self
        value = handler.request.headers.get(kernel_tag.HEADER)
        if not value:
            return ""
        manager = handler.settings.get("kernel_manager")

        def key_of(kernel_id: str) -> bytes | None:
            if manager is None or kernel_id not in manager:
                return None
            return bytes(manager.get_kernel(kernel_id).session.key)

        kernel = kernel_tag.verify(value, token, key_of)
        if kernel is None:
            remote = handler.request.remote_ip
            log.warning("ignoring a kernel tag that does not verify (from %s)", remote)
        return kernel or ""

    def identity(self) -> Identity:
        user: Any = self.current_user  # type: ignore[attr-defined]
        holder: tuple[str, str] | None = getattr(self, "_token_holder", None)
        if holder is not None and holder[0]:
            username, kernel = holder
            return Identity(
                username=username,
                name=username,
                display_name=getattr(self, "_kernel_name", "") or username,
                groups=user_groups(user),
                may_publish=getattr(self, "_may_publish", False),
                kernel=kernel,
                scopes=user_scopes(user),
            )
        return Identity(
            username=user.username,
            name=getattr(user, "name", "") or "",
            display_name=getattr(self, "_kernel_name", "")
            or getattr(user, "display_name", "")
            or "",
            color=getattr(user, "color", None),
            groups=user_groups(user),
            may_publish=getattr(self, "_may_publish", False),
            kernel=holder[1] if holder is not None else "",
            scopes=user_scopes(user),
        )

    def check_transport(self) -> None:
        name = self.transport_name
        if name is not None and name not in self.context.transports:
            raise RealtimeError(ErrorCode.NOT_FOUND, f"the {name} transport is disabled")

    def write_realtime_error(self, exc: RealtimeError) -> None:
        handler: web.RequestHandler = self  # type: ignore[assignment]
        handler.set_status(exc.code.http_status)
        handler.set_header("Content-Type", "application/json")
        handler.finish(orjson.dumps({"error": exc.to_dict()}))

    def write_json(self, value: Any) -> None:
        handler: web.RequestHandler = self  # type: ignore[assignment]
        handler.set_header("Content-Type", "application/json")
        handler.finish(orjson.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, RealtimeError):
            self.write_realtime_error(exc)
            return
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "too_large"}.get(
            status_code, "bad_request" if 400 <= status_code < 500 else "internal"
        )
        message = getattr(exc, "log_message", None) or responses.get(status_code, "error")
        handler: web.RequestHandler = self  # type: ignore[assignment]
        handler.set_header("Content-Type", "application/json")
        handler.finish(orjson.dumps({"error": {"code": code, "message": message}}))


def check_outbox_limit(outbox_limit: int, max_message_size: int) -> None:
    """Refuse a configuration whose outbox cannot hold two of the largest frames: a
    replay adds a frame while the outbox holds up to a quarter of its limit, and live
    traffic needs room beside it (see docs/protocol.md, "No reply is too big to send")."""
    frame = max_frame_bytes(max_message_size)
    if outbox_limit < 2 * frame:
        raise TraitError(
            f"RealtimeApp.outbox_limit ({outbox_limit} bytes) must hold two of the largest "
            f"frames: a publication of max_message_size ({max_message_size} bytes) becomes "
            f"up to {frame} bytes on the wire (base64 for binary data on SSE, streaming "
            f"and polling, plus its header). Set outbox_limit to at least {2 * frame}, or "
            "lower max_message_size."
        )


def user_groups(user: Any) -> frozenset[str]:
    """Groups an identity carries: a ``groups`` attribute, or JupyterHub's user model."""
    groups = getattr(user, "groups", None)
    if groups is None:
        hub_user = getattr(user, "hub_user", None)
        groups = hub_user.get("groups") if isinstance(hub_user, dict) else None
    if not isinstance(groups, (list, tuple, set, frozenset)):
        return frozenset()
    return frozenset(str(g) for g in groups)


def user_scopes(user: Any) -> frozenset[str]:
    """The scopes of JupyterHub's user model (the request's token), else none."""
    hub_user = getattr(user, "hub_user", None)
    scopes = hub_user.get("scopes") if isinstance(hub_user, dict) else None
    if not isinstance(scopes, (list, tuple, set, frozenset)):
        return frozenset()
    return frozenset(str(s) for s in scopes)


def outbox_bytes(transport: Any) -> int:
    """Bytes queued for a client: a poll queue's size, or the socket's write buffer."""
    size = getattr(transport, "size", None)
    if isinstance(size, int):
        return size
    stream = getattr(transport, "stream", None)
    return fastwrite.queued(stream) if stream is not None else 0
