"""REST endpoints: publish, list channels, history, presence.

Public names: :class:`PublishHandler`, :class:`ChannelsHandler`, :class:`HistoryHandler`,
:class:`PresenceHandler`. For scripts, ``curl`` and anything that does not hold a
connection. Errors are the contract's JSON bodies with their HTTP status. Each request is
authorized by the channel policy as the matching command is; ``GET realtime/api/channels``
lists only the channels the user may subscribe to or read the history of. A REST publish
is admitted as a session's ``publish`` is (``session.admit_publication``), with one
rate-limit bucket per user; its ``Idempotency-Key`` header is the command's
``idempotency_key`` and its ``?key=`` the publication's ``key``. History answers are paged
by bytes, as the command's are; ``history?key=K`` is the latest publication of key ``K``.
"""

from __future__ import annotations

import orjson
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import ErrorCode, RealtimeError
from ..protocol import (
    Position,
    encode_kept,
    validate_channel,
    validate_idempotency_key,
    validate_key,
    validate_limit,
)
from ..session import admit_publication, charge_bytes, publish_result
from .context import RealtimeHandlerMixin

__all__ = ["ChannelsHandler", "HistoryHandler", "PresenceHandler", "PublishHandler"]

BINARY_TYPES = ("application/octet-stream",)


class PublishHandler(RealtimeHandlerMixin, APIHandler):
    @web.authenticated
    async def post(self, channel: str) -> None:
        try:
            validate_channel(channel)
            key = validate_idempotency_key(self.request.headers.get("Idempotency-Key"))
            pub_key = validate_key(self.get_argument("key", None, strip=False))
            identity, context, body = self.identity(), self.context, self.request.body
            bucket = context.limits.user_bucket(identity.username)
            admit_publication(
                self.hub, context.policy, context.limits, identity, bucket, channel, len(body)
            )
            ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            binary = ctype in BINARY_TYPES
            if not binary:
                if not body.strip():
                    raise RealtimeError(ErrorCode.BAD_REQUEST, "the body must be JSON data")
                try:
                    body = encode_kept(orjson.loads(body))  # validate and make compact
                except orjson.JSONDecodeError as exc:
                    raise RealtimeError(ErrorCode.BAD_REQUEST, f"malformed JSON: {exc}") from None
            await charge_bytes(self.hub, context.limits, identity, len(body))
            pub = await self.hub.publish(
                channel, body, binary=binary, sender=identity.sender, idempotency_key=key,
                sender_name=identity.sender_name,
                key=pub_key,
            )
        except RealtimeError as exc:
            self.write_realtime_error(exc)
            return
        self.write_json({"channel": channel, **publish_result(pub)})


class ChannelsHandler(RealtimeHandlerMixin, APIHandler):
    @web.authenticated
    async def get(self) -> None:
        identity, policy = self.identity(), self.context.policy
        infos = [
            info
            for info in await self.hub.channels()
            if policy.allows(identity, "subscribe", info.channel)
            or policy.allows(identity, "history", info.channel)
        ]
        self.write_json(
            {
                "channels": [
                    {
                        "channel": info.channel,
                        "subscribers": info.subscribers,
                        "epoch": info.position.epoch,
                        "offset": info.position.offset,
                    }
                    for info in infos
                ]
            }
        )


class HistoryHandler(RealtimeHandlerMixin, APIHandler):
    @web.authenticated
    async def get(self, channel: str) -> None:
        try:
            validate_channel(channel)
            self.context.policy.authorize(self.identity(), "history", channel)
            limit = self.get_argument("limit", None)
            limit_value = validate_limit(None if limit is None else _int(limit, "limit"))
            key = validate_key(self.get_argument("key", None, strip=False))
            prefix = validate_key(self.get_argument("key_prefix", None, strip=False))
            since = None
            if key is None and prefix is None and self.get_argument("since", None) is not None:
                offset = _int(self.get_argument("since"), "since")
                if offset < 0:
                    raise RealtimeError(ErrorCode.BAD_REQUEST, "since must not be negative")
                epoch = self.get_argument("epoch", None)
                if epoch is None:  # an offset alone means the current epoch
                    epoch = (await self.hub.position(channel)).epoch
                since = Position(epoch, offset)
            page = await self.hub.history(
                channel, since=since, limit=limit_value, key=key, key_prefix=prefix
            )
        except RealtimeError as exc:
            self.write_realtime_error(exc)
            return
        self.write_json(page.to_dict())


class PresenceHandler(RealtimeHandlerMixin, APIHandler):
    @web.authenticated
    async def get(self, channel: str) -> None:
        try:
            validate_channel(channel)
            self.context.policy.authorize(self.identity(), "presence", channel)
        except RealtimeError as exc:
            self.write_realtime_error(exc)
            return
        self.write_json({"clients": await self.hub.presence(channel)})


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise RealtimeError(ErrorCode.BAD_REQUEST, f"{name} must be an integer") from None
