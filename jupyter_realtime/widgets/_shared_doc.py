"""A shared cell's document on the Python client: a pycrdt ``Doc`` synced over a channel.

Public name: :class:`SharedDocument`. It follows ``docs/shared-cells.md``: load the state
from ``realtime/api/documents/{channel}``, subscribe with ``since`` = the position the state
includes, publish every local edit as a Yjs update, and merge once (state with our state
vector, then publish what the server lacks) after a gap or a publish lost with the connection.

All of its methods run in the :class:`~jupyter_realtime.client.AsyncClient`'s event loop
(the blocking ``SharedCell`` calls them through the client's portal), so the ``Doc`` is only
ever touched by one thread.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
from pycrdt import Doc, Text

from ..client._errors import BadRequest, GapError, Unavailable
from ..client._message import Message
from ..documents.codec import EMPTY_UPDATE, MERGE_FIRST, SOURCE, update_message, update_of
from ..documents.scan import read_state_vector
from ..protocol import Position
from ._edits import Edit, apply_edits, rebase, text_edits

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ..client._outbox import Pending

__all__ = ["EditRefused", "Read", "SharedDocument"]

log = logging.getLogger("jupyter_realtime.widgets")

#: text deltas of others' changes kept for one read at most; past it, a write falls back to
#: the text as it is now (a kernel that read once and never wrote keeps no unbounded log)
MAX_LOGGED = 100_000


class EditRefused(RuntimeError):
    """The server refused an edit of a shared cell (``rate_limited``, ``too_large``, ...);
    the cell was reloaded from the server's text, without it."""


class Read(NamedTuple):
    """A text as read, and the mark of the change log it was read at."""

    text: str
    mark: int


class SharedDocument:
    """The document of shared cell ``channel`` on ``client``; ``await start()`` first.

    ``on_change(text)`` is called after every change, local or remote. ``writable``: whether
    the server lets this user publish (from the state endpoint).
    """

    def __init__(self, client: AsyncClient, channel: str) -> None:
        self.client = client
        self.channel = channel
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(SOURCE, type=Text)
        self.writable = False
        self.max_message_size = 0  # the server's limit (0: unknown), from the state endpoint
        self.on_change: list[Callable[[str], Any]] = []
        self.merges = 0  # how many merges ran (for tests)
        self.resets = 0  # how many times the document was reloaded from the server's
        #: why the last refused edit was refused (``"rate_limited: ..."``), until the next one
        self.refusal: str | None = None
        self.on_refused: list[Callable[[str], Any]] = []
        self._resyncing: asyncio.Future[None] | None = None
        self._local_refusal: str | None = None
        self._applying = False
        self._merging = False
        self._merge_again = False
        self._started = False
        self._last_publish: Pending | None = None
        self._subscription = self.doc.observe(self._local_update)
        self._text_subscription: Any = None
        # others' changes since the last read, for the three-way write (see ``write``)
        self._log: list[list[dict[str, Any]]] = []
        self._log_start = 0  # the mark of _log[0]
        self._writing = False
        self._text_subscription = self.text.observe(self._logged)

    @property
    def value(self) -> str:
        return str(self.text)

    async def start(self) -> None:
        """Load the state, then subscribe after the position it includes."""
        body = await self._fetch(None)
        self._apply(base64.b64decode(body["update_b64"]))
        self._started = True
        try:
            await self.client.listen(
                self.channel, self, since=Position(body["epoch"], int(body["offset"]))
            )
        except BadRequest:
            # this client follows the channel already (another SharedCell of it, e.g. the
            # cell was run again): listen from where it is, and fetch what lies between
            await self.client.listen(self.channel, self)
            await self.merge()

    async def close(self) -> None:
        self.client.unlisten(self.channel, self)
        self.doc.unobserve(self._subscription)
        self.text.unobserve(self._text_subscription)

    def read(self) -> Read:
        """The text now, and a mark for :meth:`write`; forgets changes older than it."""
        self._log.clear()
        self._log_start = self.mark
        return Read(self.value, self._log_start)

    @property
    def mark(self) -> int:
        return self._log_start + len(self._log)

    def write(self, new: str, edits: list[Edit], mark: int) -> tuple[Read, Pending | None]:
        """Apply ``edits`` (that turn the text read at ``mark`` into ``new``) to the text as
        it is now, carried through what others changed since (:func:`._edits.rebase`); the
        text after. A mark the log no longer reaches (``MAX_LOGGED``) diffs the text now."""
        since = mark - self._log_start
        if 0 <= since <= len(self._log):
            deltas = self._log[since:]
        else:
            deltas, edits = [], text_edits(self.value, new)
        self._writing = True
        self._last_publish = None
        try:
            apply_edits(self.text, rebase(edits, deltas))
        finally:
            self._writing = False
        return self.read(), self._last_publish

    async def settle(self, pending: Pending | None, timeout: float = 10.0) -> str | None:
        """Wait (at most ``timeout`` seconds) for the reply to the publish of a write; the
        reason it was refused, once the document is reloaded from the server's state (None
        if it was accepted, lost with the connection, or is still on its way)."""
        if pending is None:
            reason, self._local_refusal = self._local_refusal, None
            if reason is not None:  # refused here, before it was sent
                await self.resync(reason)
            return reason
        if not pending.done:
            if pending.event is None:
                pending.event = anyio.Event()
            with anyio.move_on_after(timeout):
                await pending.event.wait()
        if pending.error is None or isinstance(pending.error, Unavailable):
            return None
        await self.resync(self._reason(pending.error))
        return self._reason(pending.error)

    @staticmethod
    def _reason(error: BaseException) -> str:
        code = getattr(error, "code", None) or type(error).__name__
        return f"{getattr(code, 'value', code)}: {error}"

    def _logged(self, event: Any) -> None:
        if self._writing:
            return
        if len(self._log) >= MAX_LOGGED:
            self._log_start += len(self._log)
            self._log.clear()
        self._log.append(event.delta)

    # -- the channel (Listener protocol) --

    def message(self, msg: Message) -> None:
        update = update_of(msg.data)
        if update is not None:
            self._apply(update)

    def gap(self, error: GapError) -> None:
        self.client.spawn(self.merge)

    def end(self, error: BaseException | None) -> None:
        if error is not None:
            log.warning("shared cell %s stopped following its channel: %r", self.channel, error)

    # -- local edits and the merge --

    def _apply(self, update: bytes) -> None:
        self._applying = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying = False
        self._changed()

    def _local_update(self, event: Any) -> None:
        if self._applying or not self._started:
            return
        self._last_publish = None
        message = update_message(event.update)
        if 0 < self.max_message_size < len(message):  # refused before it is sent
            reason = (f"too_large: an edit of {len(message)} bytes exceeds the limit of "
                      f"{self.max_message_size} bytes")
            self._local_refusal = reason
            self.client.spawn(self.resync, reason)
        else:
            self._last_publish = self.client.command(
                "publish", channel=self.channel, data=message, callback=self._published,
            )
        # the text cannot be read while the transaction that changed it ends
        asyncio.get_running_loop().call_soon(self._changed)

    def _published(self, p: Pending) -> None:
        if isinstance(p.error, Unavailable) or MERGE_FIRST in str(p.error):
            # lost with the connection, or sent before one that was: merge once (a resync
            # would drop the edits the server has not received)
            self.client.spawn(self.merge)
        elif p.error is not None:  # refused: every later update of ours builds on it, so
            # sending again won't help and nothing after it would be accepted: reload
            self.client.spawn(self.resync, self._reason(p.error))

    async def resync(self, reason: str) -> None:
        """Drop this document for the server's (a new ``Doc``, a new client id: the refused
        edit and what was built on it are undone here) and tell ``on_refused``; concurrent
        calls share one reload."""
        if self._resyncing is None:
            self._resyncing = asyncio.ensure_future(self._resync(reason))
        try:
            await asyncio.shield(self._resyncing)
        finally:
            self._resyncing = None

    async def _resync(self, reason: str) -> None:
        log.warning("shared cell %s: an edit was refused (%s); reloading the shared text",
                    self.channel, reason)
        self.refusal = reason
        body = await self._fetch(None)
        doc: Doc[Any] = Doc()
        doc.apply_update(base64.b64decode(body["update_b64"]))
        self.doc.unobserve(self._subscription)
        self.text.unobserve(self._text_subscription)
        self.doc, self.text = doc, doc.get(SOURCE, type=Text)
        self._subscription = doc.observe(self._local_update)
        self._text_subscription = self.text.observe(self._logged)
        self._log_start += len(self._log) + 1  # marks of the old document are no use
        self._log.clear()
        self.resets += 1
        self._changed()
        for callback in list(self.on_refused):
            try:
                callback(reason)
            except Exception:
                log.exception("a shared cell callback failed")
        await self.merge()  # what was published while the state was on its way

    def _changed(self) -> None:
        value = self.value
        for callback in list(self.on_change):
            try:
                callback(value)
            except Exception:
                log.exception("a shared cell callback failed")

    async def merge(self) -> None:
        """Take what the server has that we lack, then publish what it lacks, once."""
        if self._merging:
            self._merge_again = True
            return
        self._merging = True
        try:
            while True:
                self._merge_again = False
                await self._merge_once()
                if not self._merge_again:
                    return
        finally:
            self._merging = False

    async def _merge_once(self) -> None:
        for attempt in range(60):
            try:
                body = await self._fetch(self.doc.get_state())
                break
            except Exception as exc:  # the server may be restarting
                log.debug("shared cell %s: merge waits for the server: %s", self.channel, exc)
                await anyio.sleep(min(0.1 * 2**attempt, 2.0))
        else:
            return
        self._apply(base64.b64decode(body["update_b64"]))
        server_state = base64.b64decode(body["state_vector_b64"])
        missing = self.doc.get_update(server_state)
        self.merges += 1
        if self._diverged(server_state, body.get("text_sha256")):
            self.client.spawn(self.resync, "the text differed from the server's")
            return
        if missing != EMPTY_UPDATE and self.writable:
            self.client.command(
                "publish", channel=self.channel, data=update_message(missing),
                callback=self._published,
            )

    def _diverged(self, server_state: bytes, text_sha256: str | None) -> bool:
        """Same state as the server's, yet another text: a client that must reload."""
        if not text_sha256 or read_state_vector(server_state) != read_state_vector(
            self.doc.get_state()
        ):
            return False
        return hashlib.sha256(self.value.encode("utf-8")).hexdigest() != text_sha256

    async def _fetch(self, state_vector: bytes | None) -> dict[str, Any]:
        endpoint = self.client.endpoint
        if endpoint is None:
            raise RuntimeError("the client is not connected")
        path = "realtime/api/documents/" + urllib.parse.quote(self.channel, safe=":@")
        if state_vector is not None:
            vector = base64.b64encode(state_vector).decode()
            path += "?state_vector=" + urllib.parse.quote(vector, safe="")
        body: dict[str, Any] = await anyio.to_thread.run_sync(endpoint.get_json, path)
        self.writable = bool(body.get("writable"))
        self.max_message_size = int(body.get("max_message_size") or 0)
        return body
