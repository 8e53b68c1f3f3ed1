"""``GET realtime/api/documents/{channel}``: a shared cell's merged state for a late joiner.

Public name: :class:`DocumentHandler`. Answers the document's state (all of it, or only what
the client's ``state_vector`` lacks), the server's state vector, the channel position the
state includes, whether this user may edit, and who the user is (for the cursor label).
Authorized as ``history`` on the channel. ``docs/shared-cells.md`` is the contract.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..documents import DocumentService
from ..errors import ErrorCode, RealtimeError
from ..protocol import validate_channel
from .context import RealtimeContext, RealtimeHandlerMixin

__all__ = ["DocumentHandler"]


class DocumentHandler(RealtimeHandlerMixin, APIHandler):
    def initialize(  # type: ignore[override]
        self, context: RealtimeContext, documents: DocumentService
    ) -> None:
        super().initialize(context)
        self.documents = documents

    @web.authenticated
    async def get(self, channel: str) -> None:
        try:
            validate_channel(channel)
            identity = self.identity()
            policy = self.context.policy
            policy.authorize(identity, "history", channel)
            # loading holds the channel open
            self.context.limits.admit_channel(channel, identity.username)
            state_vector = _b64(self.get_argument("state_vector", None))
            try:
                state = await self.documents.state(channel, state_vector)
            except ValueError as exc:
                raise RealtimeError(ErrorCode.BAD_REQUEST, f"bad state_vector: {exc}") from None
        except RealtimeError as exc:
            self.write_realtime_error(exc)
            return
        user: dict[str, Any] = identity.presence_info("")
        user.pop("client", None)
        self.write_json(
            {
                "channel": channel,
                "epoch": state.position.epoch,
                "offset": state.position.offset,
                "update_b64": base64.b64encode(state.update).decode("ascii"),
                "state_vector_b64": base64.b64encode(state.state_vector).decode("ascii"),
                "text_sha256": state.text_sha256,
                # a client refuses a larger edit itself (docs/shared-cells.md)
                "max_message_size": self.hub.max_message_size,
                "writable": policy.allows(identity, "publish", channel),
                "user": user,
            }
        )


def _b64(raw: str | None) -> bytes | None:
    if raw is None:
        return None
    try:
        return base64.b64decode(raw.replace(" ", "+"), validate=True)  # '+' may arrive as ' '
    except (binascii.Error, ValueError):
        raise RealtimeError(ErrorCode.BAD_REQUEST, "state_vector must be base64") from None
