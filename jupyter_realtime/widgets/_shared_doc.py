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
import difflib
import logging
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from pycrdt import Doc, Text

from ..client._errors import BadRequest, GapError, Unavailable
from ..client._message import Message
from ..documents.codec import EMPTY_UPDATE, SOURCE, update_message, update_of
from ..protocol import Position

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ..client._outbox import Pending

__all__ = ["SharedDocument", "minimal_edit"]

log = logging.getLogger("jupyter_realtime.widgets")

def minimal_edit(text: Text, new: str) -> None:
    """Turn ``text`` into ``new`` by deleting and inserting only the spans that differ, so
    that what others type elsewhere at the same time survives the merge."""
    old = str(text)
    if old == new:
        return
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    with text.doc.transaction():
        for tag, i1, i2, j1, j2 in reversed(ops):  # from the end: earlier indices stay valid
            if tag in ("replace", "delete"):
                del text[i1:i2]
            if tag in ("replace", "insert"):
                text.insert(i1, new[j1:j2])


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
        self.on_change: list[Callable[[str], Any]] = []
        self.merges = 0  # how many merges ran (for tests)
        self._applying = False
        self._merging = False
        self._merge_again = False
        self._started = False
        self._subscription = self.doc.observe(self._local_update)

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

    def set_value(self, new: str) -> str:
        """Replace the text by a minimal edit; the text after it."""
        minimal_edit(self.text, new)
        return self.value

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
        self.client.command(
            "publish", channel=self.channel, data=update_message(event.update),
            callback=self._published,
        )
        # the text cannot be read while the transaction that changed it ends
        asyncio.get_running_loop().call_soon(self._changed)

    def _published(self, p: Pending) -> None:
        if isinstance(p.error, Unavailable):  # lost with the connection: merge once
            self.client.spawn(self.merge)
        elif p.error is not None:  # refused (too large, forbidden): sending again won't help
            log.warning("shared cell %s: an edit was refused: %s", self.channel, p.error)

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
        missing = self.doc.get_update(base64.b64decode(body["state_vector_b64"]))
        self.merges += 1
        if missing != EMPTY_UPDATE and self.writable:
            self.client.command(
                "publish", channel=self.channel, data=update_message(missing),
                callback=self._published,
            )

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
        return body
