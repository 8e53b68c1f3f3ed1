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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from . import protocol
from .brokers.base import Duplicate
from .errors import BAD_FRAMES, SLOW_CONSUMER, Disconnect, ErrorCode, RealtimeError
from .hub import Hub, SubscribeResult
from .limits import Limits, TokenBucket
from .policy import Policy
from .protocol import Position, Publication

__all__ = [
    "Identity", "OutboxFull", "Session", "SessionState", "Transport", "admit_publication",
    "charge_bytes",
    "wait_background",
]

log = logging.getLogger("jupyter_realtime.session")

MAX_BAD_FRAMES = 50  # consecutive bad commands before the connection is closed
INTERNAL_MESSAGE = "Unhandled error: the server logged it"


class OutboxFull(Exception):
    """A transport's bounded outbox cannot take another frame."""


class Transport(Protocol):
    """Writes frames to one client and closes; nothing else. Writes never block."""

    kind: str

    def write_publication(self, pub: Publication) -> None: ...

    def write_frame(self, frame: dict[str, Any]) -> None: ...

    def announce(self, channel: str, result: SubscribeResult) -> bool:
        """After a subscribe's replay: put its outcome on the downlink, in order behind
        the replayed publications, if the transport's replies travel apart from its stream
        (HTTP sessions). True when it did; the reply is then only an acknowledgement."""
        ...

    async def wait_writable(self) -> None:
        """Return once the outbox holds at most a quarter of its limit (at once when it
        does, or when the connection is closed): a replay waits on it between frames.
        Raises :class:`OutboxFull` when the reader has stalled."""
        ...

    def close(self, disconnect: Disconnect) -> None: ...


class SessionState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Identity:
    """Who is connected, as Jupyter's identity provider says.

    ``groups``: the groups the identity provider knows (e.g. JupyterHub's); the policy adds
    its own mapping. ``may_publish``: Jupyter's authorizer allows ``write`` on ``realtime``.
    ``kernel``: the id of the server's kernel the connection proved it runs in, else ''.
    ``display_name``: what every view shows as this identity (:attr:`sender_name`), e.g.
    "alice's kernel (analysis.ipynb)" for a kernel.
    ``scopes``: the JupyterHub scopes of the request's token, for ``scope:`` principals
    (empty outside the realtime hub service).
    """

    username: str
    name: str = ""
    display_name: str = ""
    color: str | None = None
    groups: frozenset[str] = frozenset()
    may_publish: bool = True
    kernel: str = ""
    scopes: frozenset[str] = frozenset()

    @property
    def sender(self) -> str:
        """A publication's ``sender``: the user, and which kernel published for it."""
        return f"{self.username}/kernel/{self.kernel}" if self.kernel else self.username

    @property
    def sender_name(self) -> str:
        """A publication's ``sender_name`` and the presence list's ``name``: the display
        name Jupyter (or JupyterHub) gives this identity, one line of at most
        :data:`MAX_NAME` characters, so that every view shows the same verified name."""
        return clip_name(self.display_name or self.name or self.username)

    def presence_info(self, client: str) -> dict[str, Any]:
        return {
            "client": client,
            "user": self.username,
            "name": self.sender_name,
            "color": self.color,
        }


MAX_NAME = 200  # characters of a display name on the wire


def clip_name(name: str) -> str:
    """``name`` on one line (control characters become spaces), at most ``MAX_NAME``."""
    line = "".join(" " if ch < " " or ch == "\x7f" else ch for ch in name).strip()
    return line if len(line) <= MAX_NAME else line[: MAX_NAME - 1] + "…"


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

    async def wait_writable(self) -> None:
        if self.state is SessionState.OPEN:
            try:
                await self.transport.wait_writable()
            except OutboxFull:
                self.close(SLOW_CONSUMER)

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
                cid = protocol.command_id(orjson.loads(raw))
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
        except Exception:
            # the details stay in the server's log: they may say more than a client should know
            log.exception("command %s failed in session %s", cmd.get("op"), self.id)
            return protocol.error_reply(cid, RealtimeError(ErrorCode.INTERNAL, INTERNAL_MESSAGE))
        self._bad_frames = 0
        return None if cid is None and not always_reply else protocol.reply(cid, result)

    def authorize(self, action: str, channel: str) -> None:
        """Raise ``forbidden`` unless this session's user may ``action`` on ``channel``."""
        self.policy.authorize(self.identity, action, channel)

    async def subscribe(
        self, channel: str, since: Position | None = None, *, presence: bool = False
    ) -> SubscribeResult:
        """Authorize, count and subscribe (every transport's subscribe, first or resumed)."""
        (result,) = await self.subscribe_all([channel], {channel: since} if since else {},
                                             presence=presence)
        return result

    async def subscribe_all(
        self,
        channels: list[str],
        since: dict[str, Position],
        *,
        presence: bool = False,
        registered: Callable[[], Awaitable[None]] | None = None,
    ) -> list[SubscribeResult]:
        """Subscribe to each channel, resuming those in ``since``. Every channel is
        registered with the hub before ``registered`` is awaited (a stream sends its
        headers then) and before any replay. All or nothing: on failure none stays."""
        self._require_open()
        held = len(self.channels)
        for channel in channels:
            self.authorize("subscribe", channel)
            if channel not in self.channels:
                self.limits.check_subscriptions(held)
                held += 1
            self.limits.admit_channel(channel, self.identity.username)
        info = self.identity.presence_info(self.id) if presence else None
        mine: list[str] = []  # registered by this call
        try:
            for channel in channels:
                if not self.policy.allows(self.identity, "presence", channel):
                    self._no_presence.add(channel)
                self.channels.add(channel)
                await self.hub.register(self, channel)
                mine.append(channel)
            if registered is not None:
                await registered()
            results = []
            for channel in channels:
                result = await self.hub.recover(self, channel, since=since.get(channel),
                                                presence=info)
                result.announced = self.transport.announce(channel, result)
                results.append(result)
        except BaseException:
            for channel in mine:
                await self.hub.cancel(self, channel)
            for channel in channels:
                if not self.hub.is_subscribed(self, channel):
                    self.channels.discard(channel)
            raise
        return results

    async def _op_subscribe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        result = await self.subscribe(
            cmd["channel"], cmd.get("since"), presence=bool(cmd.get("presence"))
        )
        if result.announced:
            # the position travels on the downlink, behind the replay: a client that took
            # it from this reply could move past publications it has not received yet
            return {"channel": cmd["channel"], "announced": True}
        return result.to_dict()

    async def _op_unsubscribe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        await self.hub.unsubscribe(self, cmd["channel"])
        self.channels.discard(cmd["channel"])
        return {}

    async def _op_publish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        admit_publication(self.hub, self.policy, self.limits, self.identity, self._bucket,
                          cmd["channel"], len(cmd["payload"]))
        await charge_bytes(self.hub, self.limits, self.identity, len(cmd["payload"]))
        pub = await self.hub.publish(
            cmd["channel"], cmd["payload"], binary=cmd["binary"], sender=self.identity.sender,
            idempotency_key=cmd.get("idempotency_key"), sender_name=self.identity.sender_name,
            key=cmd.get("key"),
        )
        return publish_result(pub)

    async def _op_history(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.authorize("history", cmd["channel"])
        page = await self.hub.history(
            cmd["channel"], since=cmd["since"], limit=cmd["limit"], key=cmd.get("key"),
            key_prefix=cmd.get("key_prefix"),
        )
        return page.to_dict()

    async def _op_presence(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.authorize("presence", cmd["channel"])
        return {"clients": await self.hub.presence(cmd["channel"])}

    async def _op_ping(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return {}


def publish_result(pub: Publication) -> dict[str, Any]:
    """The answer to a publish: its position, and ``duplicate`` when its key was known."""
    result: dict[str, Any] = {"epoch": pub.epoch, "offset": pub.offset}
    if isinstance(pub, Duplicate):
        result["duplicate"] = True
    return result


def admit_publication(
    hub: Hub,
    policy: Policy,
    limits: Limits,
    identity: Identity,
    bucket: TokenBucket | None,
    channel: str,
    size: int,
) -> None:
    """May ``identity`` publish ``size`` bytes to ``channel`` now? Raise if not.

    The admission of every publication, whichever way it comes in (a session's
    ``publish``, a REST ``POST``): the channel policy, the rate limit of ``bucket`` (the
    connection's, or the user's for REST), the channel limit, the size limit.
    """
    policy.authorize(identity, "publish", channel)
    limits.take_publish(bucket)
    limits.admit_channel(channel, identity.username)
    hub.check_size(size)


async def charge_bytes(hub: Hub, limits: Limits, identity: Identity, size: int) -> None:
    """Count ``size`` bytes against the user's ``max_user_bytes`` of the current window;
    ``rate_limited`` (nothing counted) past it. After :func:`admit_publication`, before the
    publish: a publication refused for another reason costs nothing."""
    if not limits.max_user_bytes:
        return
    user = identity.username
    total = await hub.add_usage(
        f"bytes:{user}", size, limits.max_user_bytes, limits.user_bytes_window
    )
    if total is None:
        raise RealtimeError(
            ErrorCode.RATE_LIMITED,
            f"user {user!r} may add {limits.max_user_bytes} bytes every "
            f"{limits.user_bytes_window:g} s; {size} more would pass it",
        )


# cleanup of closed sessions (``Hub.drop``), kept here so it is not collected mid-way
_background: set[asyncio.Future[Any]] = set()


async def wait_background(timeout: float = 10.0) -> None:
    """Wait for the cleanup of closed sessions on this loop (at shutdown, before the broker
    closes); what is still running after ``timeout`` seconds is cancelled."""
    loop = asyncio.get_running_loop()
    while pending := [task for task in _background if task.get_loop() is loop]:
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            log.warning("cancelling a session cleanup still running at shutdown")
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        _background.difference_update(pending)
