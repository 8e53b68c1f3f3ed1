"""The uplink of HTTP sessions: ``POST`` and ``DELETE realtime/session/{id}``.

Public name: :class:`SessionHandler`. A browser that only gets SSE, XHR streaming or
polling through still has the full command set: it posts a command (or an array of
commands) and gets the reply (or the array of replies) in the response, while
publications arrive on the session's stream or poll. Only the user who opened a session
may use it.
"""

from __future__ import annotations

from typing import Any

import orjson
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import Disconnect, ErrorCode, RealtimeError
from ..protocol import command_id, error_reply, validate_command
from ..session import Session
from .context import RealtimeHandlerMixin

__all__ = ["SessionHandler"]

MAX_BATCH = 100
CLOSED_BY_CLIENT = Disconnect(1000, "closed")


class SessionHandler(RealtimeHandlerMixin, APIHandler):
    def session(self, sid: str) -> Session:
        session = self.context.sessions.get(sid)
        if session is None:
            raise RealtimeError(ErrorCode.NOT_FOUND, f"no session {sid!r}")
        if session.identity.username != self.identity().username:
            raise RealtimeError(ErrorCode.FORBIDDEN, "this session belongs to another user")
        return session

    @web.authenticated
    async def post(self, sid: str) -> None:
        try:
            session = self.session(sid)
            try:
                body = orjson.loads(self.request.body)
            except orjson.JSONDecodeError as exc:
                raise RealtimeError(ErrorCode.BAD_REQUEST, f"malformed JSON: {exc}") from None
            if isinstance(body, list) and len(body) > MAX_BATCH:
                raise RealtimeError(ErrorCode.BAD_REQUEST, f"at most {MAX_BATCH} commands a POST")
        except RealtimeError as exc:
            self.write_realtime_error(exc)
            return
        self.context.touch(session)
        if isinstance(body, list):
            self.write_json([await self.run(session, frame) for frame in body])
        else:
            self.write_json(await self.run(session, body))

    async def run(self, session: Session, frame: Any) -> dict[str, Any]:
        try:
            cmd = validate_command(frame)
        except RealtimeError as exc:
            return error_reply(command_id(frame), exc)
        answer = await session.run(cmd, always_reply=True)
        assert answer is not None
        return answer

    @web.authenticated
    async def delete(self, sid: str) -> None:
        try:
            session = self.session(sid)
        except RealtimeError as exc:
            self.write_realtime_error(exc)
            return
        self.context.remove_session(session)
        session.close(CLOSED_BY_CLIENT)
        self.set_status(204)
        self.finish()
