"""The documents service: each open shared cell's merged state, on top of the hub.

Public names: :class:`DocumentService`, :class:`DocumentState`.

A document is loaded on demand (its snapshot from the store, then its channel's history
after the snapshot's position, through ``Hub.subscribe(since=...)``), follows its channel
live as a hub subscriber, is saved by size and by age while it is busy, and is saved and
let go when nobody else has subscribed to its channel and nobody asked for it for
``idle_unload`` seconds. ``docs/shared-cells.md`` describes the contract.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Text

from ..hub import Hub
from ..protocol import Position, Publication
from .codec import SOURCE, update_of
from .relay import UpdateRoute
from .store import DocumentStore, MemoryStore, Snapshot

__all__ = ["DocumentService", "DocumentState"]

log = logging.getLogger("jupyter_realtime.documents")


@dataclass(frozen=True)
class DocumentState:
    """What a late joiner needs: an update (everything, or what its state vector lacks),
    the server's state vector, and the channel position the state includes; ``text_sha256``
    (of the text's UTF-8) lets a client that holds the same state vector check that it reads
    the same text."""

    update: bytes
    state_vector: bytes
    position: Position
    text_sha256: str = ""


class _Document:
    """One loaded document: a hub subscriber of its channel that applies every update."""

    id = "documents"  # one per channel, so one id serves every document

    def __init__(self, channel: str, service: DocumentService) -> None:
        self.channel = channel
        self.service = service
        self.doc: Doc[Any] = Doc()
        self.position = Position("", 0)
        self.unsaved = 0  # bytes of updates applied since the last save
        self.unsaved_since: float | None = None
        self.last_used = service.clock()
        self.saving: asyncio.Task[None] | None = None

    # Subscriber protocol

    def deliver(self, pub: Publication) -> None:
        self.position = pub.position
        update = update_of(pub.payload) if pub.binary else None
        if update is None:
            log.debug("ignored a publication on %s that is no Yjs update", self.channel)
            return
        try:
            self.doc.apply_update(update)
        except Exception as exc:
            log.warning("ignored an update on %s that does not apply: %s", self.channel,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        if self.unsaved_since is None:
            self.unsaved_since = self.service.clock()
        self.unsaved += len(update)
        if self.unsaved >= self.service.save_bytes:
            self.service.save_soon(self)

    def send_event(self, frame: dict[str, Any]) -> None:
        if frame.get("event") == "gap":  # the broker lost updates: clients merge them back
            self.position = Position(frame["epoch"], frame["offset"])

    def fail(self, exc: BaseException) -> None:
        self.service.forget(self)

    async def wait_writable(self) -> None:
        """Updates are applied in memory as they come: a replay never waits for room."""

    def snapshot(self) -> Snapshot:
        return Snapshot(self.position.epoch, self.position.offset, self.doc.get_update())


class DocumentService:
    """Documents of one server (``RealtimeApp`` configures it; see ``DocumentsConfig``).

    ``store``: where snapshots live. ``idle_unload``: seconds a document without other
    subscribers and requests stays loaded. ``save_delay``: seconds an update may wait before
    it is saved. ``save_bytes``: bytes of updates that trigger a save at once.
    """

    def __init__(
        self,
        hub: Hub,
        store: DocumentStore | None = None,
        *,
        idle_unload: float = 300.0,
        save_delay: float = 2.0,
        save_bytes: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.store: DocumentStore = store if store is not None else MemoryStore()
        self.idle_unload = idle_unload
        self.save_delay = save_delay
        self.save_bytes = save_bytes
        self.clock = clock
        self.documents: dict[str, _Document] = {}
        self._loading: dict[str, asyncio.Future[_Document]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        # every Yjs update published on this server is applied here first (relay.py)
        self.route = hub.route = UpdateRoute(self)

    async def start(self) -> None:
        self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def close(self) -> None:
        """Save every document and let it go."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for document in list(self.documents.values()):
            await self.unload(document)
        await self.store.close()

    async def state(self, channel: str, state_vector: bytes | None = None) -> DocumentState:
        """The document's state for a client (only what ``state_vector`` lacks, if given);
        ``ValueError`` for a state vector that cannot be decoded."""
        document = await self.load(channel)
        document.last_used = self.clock()
        doc = document.doc
        update = doc.get_update(state_vector) if state_vector is not None else doc.get_update()
        text = str(doc.get(SOURCE, type=Text)).encode("utf-8")
        return DocumentState(update, doc.get_state(), document.position,
                             hashlib.sha256(text).hexdigest())

    async def text(self, channel: str, name: str = "source") -> str:
        """The document's text (for tests, the CLI and the benchmark)."""
        from pycrdt import Text

        return str((await self.load(channel)).doc.get(name, type=Text))

    # -- loading and unloading --

    async def load(self, channel: str) -> _Document:
        document = self.documents.get(channel)
        if document is not None:
            return document
        pending = self._loading.get(channel)
        if pending is None:
            pending = self._loading[channel] = asyncio.ensure_future(self._load(channel))
            pending.add_done_callback(lambda _: self._loading.pop(channel, None))
        return await asyncio.shield(pending)

    async def _load(self, channel: str) -> _Document:
        document = _Document(channel, self)
        snapshot = await self.store.load(channel)
        if snapshot is not None:
            document.doc.apply_update(snapshot.state)
            since = Position(snapshot.epoch, snapshot.offset)
        else:  # never saved: all the history the channel keeps
            since = Position((await self.hub.position(channel)).epoch, 0)
        document.position = since
        result = await self.hub.subscribe(document, channel, since=since)
        document.position = result.position
        document.unsaved = 0  # the replay is in the channel's history: nothing new to save yet
        document.unsaved_since = self.clock() if result.position != since else None
        if not result.recovered:
            log.info("document %s: the history no longer reaches back to its snapshot; "
                     "clients merge what is missing when they reconnect", channel)
        self.documents[channel] = document
        return document

    async def unload(self, document: _Document) -> None:
        """Save (if needed) and let go of a document and its subscription."""
        if self.documents.get(document.channel) is document:
            del self.documents[document.channel]
        await self.save(document)
        if self.hub.is_subscribed(document, document.channel):
            try:
                await self.hub.unsubscribe(document, document.channel)
            except Exception:
                log.warning("unsubscribing document %s failed", document.channel, exc_info=True)

    def forget(self, document: _Document) -> None:
        if self.documents.get(document.channel) is document:
            del self.documents[document.channel]

    # -- saving --

    async def save(self, document: _Document) -> None:
        """Write the document's snapshot if anything changed since the last save."""
        if document.saving is not None:
            await asyncio.shield(document.saving)
        if document.unsaved_since is None:
            return
        snapshot = document.snapshot()
        document.unsaved, document.unsaved_since = 0, None
        try:
            await self.store.save(document.channel, snapshot)
        except Exception:
            log.exception("saving document %s failed; retrying later", document.channel)
            if document.unsaved_since is None:
                document.unsaved_since = self.clock()

    def save_soon(self, document: _Document) -> None:
        if document.saving is None or document.saving.done():
            document.saving = asyncio.ensure_future(self._save_task(document))

    async def _save_task(self, document: _Document) -> None:
        await asyncio.sleep(0)
        document.saving = None
        await self.save(document)

    async def sweep(self) -> None:
        """Save what is due by age, and unload what is idle."""
        now = self.clock()
        for document in list(self.documents.values()):
            if self.hub.subscriber_count(document.channel) > 1:
                document.last_used = now
            elif now - document.last_used >= self.idle_unload:
                await self.unload(document)
                continue
            since = document.unsaved_since
            if since is not None and now - since >= self.save_delay:
                await self.save(document)

    async def _sweep_forever(self) -> None:
        interval = max(0.05, min(self.save_delay, self.idle_unload) / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("the documents sweep failed")
