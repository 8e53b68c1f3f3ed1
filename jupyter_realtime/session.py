"""One connection: its state, its identity, its transport and the commands it runs.

Public names: :class:`Session`, :class:`SessionState`, :class:`Identity`,
:class:`Transport`, :class:`OutboxFull`.

Every channel operation is authorized here, through :meth:`Policy.authorize`, and counted
against the :class:`Limits` (``docs/security.md``): a session is where all transports meet.

A session is the same whatever carries it (WebSocket, SSE, XHR streaming, polling): the
transport adapter parses the request, wraps the connection as a :class:`Transport`, and
hands frames to :meth:`Session.handle_text` / :meth:`Session.handle_binary` or commands to
:meth:`Session.run`. Bounded outboxes live in the transport (``write_*`` raise
:class:`OutboxFull`); the session turns that into a ``slow_consumer`` disconnect, so a
publisher never waits for a slow reader.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from . import protocol
from .errors import BAD_FRAMES, SLOW_CONSUMER, Disconnect, ErrorCode, RealtimeError
from .hub import Hub, SubscribeResult
from .limits import Limits
from .policy import Policy
from .protocol import Position, Publication

__all__ = ["Identity", "OutboxFull", "Session", "SessionState", "Transport"]

log = logging.getLogger("jupyter_realtime.session")

MAX_BAD_FRAMES = 50  # consecutive bad commands before the connection is closed


class OutboxFull(Exception):
    """A transport's bounded outbox cannot take another frame."""


class Transport(Protocol):
    """Writes frames to one client and closes; nothing else. Writes never block."""

    kind: str

    def write_publication(self, pub: Publication) -> None: ...

    def write_frame(self, frame: dict[str, Any]) -> None: ...

    def close(self, disconnect: Disconnect) -> None: ...


class SessionState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Identity:
    """Who is connected, as Jupyter's identity provider says.

    ``groups``: the groups the identity provider knows (e.g. JupyterHub's); the policy adds
    its own mapping. ``may_publish``: Jupyter's authorizer allows ``write`` on ``realtime``.
    """

    username: str
    name: str = ""
    display_name: str = ""
    color: str | None = None
    groups: frozenset[str] = frozenset()
    may_publish: bool = True

    def presence_info(self, client: str) -> dict[str, Any]:
        return {
            "client": client,
            "user": self.username,
            "name": self.display_name or self.name or self.username,
            "color": self.color,
        }


class Session:
    """A connection's subscriptions and command dispatch.

    Slotted: a server holds one per open connection, thousands of them.

    Raises ``rate_limited`` when the user already has as many connections as
    ``limits`` allow; a session counts until it is closed.
    """

    __slots__ = (
        "id", "hub", "transport", "identity", "policy", "limits", "state", "channels",
        "_bad_frames", "_bucket", "_no_presence", "deliver", "__weakref__",
    )

    def __init__(
        self,
        hub: Hub,
        transport: Transport,
        identity: Identity,
        *,
        policy: Policy | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.id = secrets.token_urlsafe(12)
        self.hub = hub
        self.transport = transport
        self.identity = identity
        self.policy = policy or Policy()
        self.limits = limits or Limits()
        self.state = SessionState.OPEN
        self.channels: set[str] = set()
        self._bad_frames = 0
        self._bucket = self.limits.publish_bucket()
        self._no_presence: set[str] = set()  # channels whose join/leave it may not see
        # the hub calls this once per delivery: bind it once
        self.deliver = self._deliver
        self.limits.connect(identity.username, self)

    # -- Subscriber protocol (called by the hub) --

    def _deliver(self, pub: Publication) -> None:
        if self.state is not SessionState.OPEN:
            return
        try:
            self.transport.write_publication(pub)
        except OutboxFull:
            self.close(SLOW_CONSUMER)

    def send_event(self, frame: dict[str, Any]) -> None:
        if frame.get("channel") in self._no_presence and frame.get("event") in ("join", "leave"):
            return
        self.send(frame)

    def fail(self, exc: BaseException) -> None:
        self.close(Disconnect(1011, "internal"))

    def send(self, frame: dict[str, Any]) -> None:
        if self.state is not SessionState.OPEN:
            return
        try:
            self.transport.write_frame(frame)
        except OutboxFull:
            self.close(SLOW_CONSUMER)

    # -- lifecycle --

    def close(self, disconnect: Disconnect | None = None) -> None:
        """Close the session (and, given a reason, its transport); idempotent."""
        if self.state is SessionState.CLOSED:
            return
        self.state = SessionState.CLOSED
        self.limits.disconnect(self.identity.username, self)
        if disconnect is not None:
            try:
                self.transport.close(disconnect)
            except Exception:
                log.warning("closing transport of session %s failed", self.id, exc_info=True)
        channels, self.channels = list(self.channels), set()
        if channels:
            task = asyncio.ensure_future(self.hub.drop(self, channels))
            _background.add(task)
            task.add_done_callback(_background.discard)

    def _require_open(self) -> None:
        if self.state is not SessionState.OPEN:
            raise RealtimeError(
                ErrorCode.BAD_REQUEST,
                f"session is {self.state.value}; expected {SessionState.OPEN.value}",
            )

    # -- commands --

    async def handle_text(self, raw: str | bytes) -> dict[str, Any] | None:
        """Run one text frame; the reply to send back (None when there is none)."""
        try:
            cmd = protocol.decode_command(raw)
        except RealtimeError as exc:
            return self._bad_frame(exc, raw)
        return await self.run(cmd)

    async def handle_binary(self, frame: bytes) -> dict[str, Any] | None:
        """Run a binary publish frame (header is the publish command without data)."""
        try:
            header, data = protocol.unpack_binary(frame)
            if header.get("op") != "publish":
                raise RealtimeError(ErrorCode.BAD_REQUEST, "a binary frame must be a publish")
            cmd = protocol.validate_command({**header, "data": None})
        except RealtimeError as exc:
            return self._bad_frame(exc, None)
        cmd["payload"], cmd["binary"] = data, True
        return await self.run(cmd)

    def _bad_frame(self, exc: RealtimeError, raw: str | bytes | None) -> dict[str, Any]:
        self._bad_frames += 1
        if self._bad_frames >= MAX_BAD_FRAMES:
            self.close(BAD_FRAMES)
        cid = None
        if raw is not None:
            try:
                cid = protocol.command_id(protocol.orjson.loads(raw))
            except ValueError:
                pass
        return protocol.error_reply(cid, exc)

    async def run(
        self, cmd: dict[str, Any], *, always_reply: bool = False
    ) -> dict[str, Any] | None:
        """Run one validated command; a reply if it has an ``id``, failed, or
        ``always_reply`` (HTTP, where every request has a response)."""
        cid = cmd.get("id")
        try:
            self._require_open()
            result = await getattr(self, "_op_" + cmd["op"])(cmd)
        except RealtimeError as exc:
            return protocol.error_reply(cid, exc)
        except Exception as exc:
            log.exception("command %s failed in session %s", cmd.get("op"), self.id)
            return protocol.error_reply(cid, RealtimeError(ErrorCode.INTERNAL, repr(exc)))
        self._bad_frames = 0
        return None if cid is None and not always_reply else protocol.reply(cid, result)

    def authorize(self, action: str, channel: str) -> None:
        """Raise ``forbidden`` unless this session's user may ``action`` on ``channel``."""
        self.policy.authorize(self.identity, action, channel)

    async def subscribe(
        self, channel: str, since: Position | None = None, *, presence: bool = False
    ) -> SubscribeResult:
        """Authorize, count and subscribe (every transport's subscribe, first or resumed)."""
        self._require_open()
        self.authorize("subscribe", channel)
        if channel not in self.channels:
            self.limits.check_subscriptions(len(self.channels))
        self.limits.admit_channel(channel, self.identity.username)
        if not self.policy.allows(self.identity, "presence", channel):
            self._no_presence.add(channel)
        info = self.identity.presence_info(self.id) if presence else None
        self.channels.add(channel)
        try:
            return await self.hub.subscribe(self, channel, since=since, presence=info)
        except BaseException:
            if not self.hub.is_subscribed(self, channel):
                self.channels.discard(channel)
            raise

    async def _op_subscribe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        result = await self.subscribe(
            cmd["channel"], cmd.get("since"), presence=bool(cmd.get("presence"))
        )
        return result.to_dict()

    async def _op_unsubscribe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        await self.hub.unsubscribe(self, cmd["channel"])
        self.channels.discard(cmd["channel"])
        return {}

    async def _op_publish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.authorize("publish", cmd["channel"])
        self.limits.take_publish(self._bucket)
        self.limits.admit_channel(cmd["channel"], self.identity.username)
        pub = await self.hub.publish(
            cmd["channel"], cmd["payload"], binary=cmd["binary"], sender=self.identity.username
        )
        return {"epoch": pub.epoch, "offset": pub.offset}

    async def _op_history(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.authorize("history", cmd["channel"])
        result = await self.hub.history(cmd["channel"], since=cmd["since"], limit=cmd["limit"])
        return {
            "publications": [p.to_frame() for p in result.publications],
            "epoch": result.position.epoch,
            "offset": result.position.offset,
            "recovered": result.recovered,
        }

    async def _op_presence(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.authorize("presence", cmd["channel"])
        return {"clients": await self.hub.presence(cmd["channel"])}

    async def _op_ping(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return {}


_background: set[asyncio.Future[Any]] = set()
