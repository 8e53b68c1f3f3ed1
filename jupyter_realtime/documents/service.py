"""The documents service: each open shared cell's merged state, on top of the hub.

Public names: :class:`DocumentService`, :class:`DocumentState`.

A document is loaded on demand (its snapshot from the store, then its channel's history
after the snapshot's position, through ``Hub.subscribe(since=...)``), and also as soon as an
update is published on its channel (``Hub.on_published``), so it follows its channel from
the first update, whatever the channel's history keeps by the time someone opens it. It
follows its channel live as a hub subscriber, is saved by size and by age while it is busy,
and is saved and let go when nobody else has subscribed to its channel and nobody asked for
it for ``idle_unload`` seconds. ``docs/shared-cells.md`` describes the contract.

Each document goes through ``loading``, ``loaded`` and ``unloading`` (:class:`Stage`); a
request that finds it unloading waits for the unload, then loads it again, under a
subscriber id of its own. Saves of one document run one at a time, each writing the state
as it is when it starts, so the newest state is always the one written last.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Text

from ..brokers.recovery import BEFORE_START
from ..hub import Hub
from ..protocol import Position, Publication
from .codec import SOURCE, update_of
from .relay import UpdateRoute
from .store import CorruptDocument, DocumentStore, MemoryStore, Snapshot

__all__ = ["DocumentService", "DocumentState", "Stage"]

log = logging.getLogger("jupyter_realtime.documents")

_loads = itertools.count(1)  # subscriber ids: one per document and load


def _decodes(update: bytes) -> bool:
    """Whether ``update`` is a Yjs update (one whose dependencies are missing counts)."""
    try:
        Doc().apply_update(update)
    except Exception:
        return False
    return True


class Stage(enum.Enum):
    """Where a document is in its life on this server."""

    LOADING = "loading"
    LOADED = "loaded"
    UNLOADING = "unloading"


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

    def __init__(self, channel: str, service: DocumentService) -> None:
        self.channel = channel
        self.service = service
        # a hub subscriber id of its own: a load that follows an unload of the same
        # channel never meets the previous subscription
        self.id = f"documents:{next(_loads)}"
        self.stage = Stage.LOADING
        self.loaded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.unloaded: asyncio.Future[None] | None = None
        self.save_lock = asyncio.Lock()  # one save at a time, in order
        self.save_failures = 0  # in a row
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
        self._following: set[str] = set()  # channels loaded because of an update
        self._tasks: set[asyncio.Future[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        hub.on_published(self._published)
        # every Yjs update published on this server is applied here first (relay.py)
        self.route = hub.route = UpdateRoute(self)

    async def start(self) -> None:
        self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def close(self) -> None:
        """Save every document and let it go."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        for document in list(self.documents.values()):
            try:
                await self.unload(document)
            except Exception:
                log.warning("document %s did not load", document.channel, exc_info=True)
        await self.store.close()

    async def state(self, channel: str, state_vector: bytes | None = None) -> DocumentState:
        """The document's state for a client (only what ``state_vector`` lacks, if given);
        ``ValueError`` for a state vector that cannot be decoded. A document that was never
        stored and whose channel has no history is empty at its channel's position, and
        reading it creates nothing (no subscription, nothing stored)."""
        document, position = await self._load_if_any(channel)
        doc: Doc[Any] = Doc() if document is None else document.doc
        if document is not None:
            document.last_used = self.clock()
        update = doc.get_update(state_vector) if state_vector is not None else doc.get_update()
        text = str(doc.get(SOURCE, type=Text)).encode("utf-8")
        return DocumentState(update, doc.get_state(), position, hashlib.sha256(text).hexdigest())

    async def text(self, channel: str, name: str = "source") -> str:
        """The document's text (for tests, the CLI and the benchmark)."""
        from pycrdt import Text

        document, _ = await self._load_if_any(channel)
        return "" if document is None else str(document.doc.get(name, type=Text))

    # -- loading and unloading --

    async def load(self, channel: str) -> _Document:
        """The loaded document of ``channel``: waits for a load under way, or for an
        unload under way and then loads it again."""
        while True:
            document = self.documents.get(channel)
            if document is None:
                document = self.documents[channel] = _Document(channel, self)
                task = asyncio.ensure_future(self._load(document))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if document.stage is Stage.LOADED:
                return document
            if document.stage is Stage.LOADING:
                await asyncio.shield(document.loaded)  # raises what the load raised
            elif document.unloaded is not None:
                await asyncio.shield(document.unloaded)

    async def _load_if_any(self, channel: str) -> tuple[_Document | None, Position]:
        """The document if it is loaded, stored, or has history to load; else None and the
        channel's position (read first: whatever is published later is after it), and
        nothing was created."""
        if channel not in self.documents:
            position = await self.hub.position(channel)
            if not (await self.hub.history(channel, limit=1)).publications:
                try:
                    stored = await self.store.load(channel) is not None
                except CorruptDocument:
                    stored = True  # loading rebuilds it
                if not stored and channel not in self.documents:
                    return None, position
        document = await self.load(channel)
        return document, document.position

    async def _load(self, document: _Document) -> None:
        channel = document.channel
        try:
            since = await self._restore(document)
            document.position = since
            result = await self.hub.subscribe(document, channel, since=since)
        except BaseException as exc:
            if self.documents.get(channel) is document:
                del self.documents[channel]
            if isinstance(exc, Exception):
                document.loaded.set_exception(exc)
                document.loaded.exception()  # those who wait get it; nobody else logs it
                return
            document.loaded.cancel()
            raise
        document.position = result.position
        document.unsaved = 0  # what the replay applied is saved by age (unsaved_since)
        if not result.recovered:
            log.info("document %s: the history no longer reaches back to its snapshot; "
                     "clients merge what is missing when they reconnect", channel)
        document.stage = Stage.LOADED
        document.loaded.set_result(None)

    async def _restore(self, document: _Document) -> Position:
        """Apply the stored snapshot; the position to replay the channel from. A stored
        document that cannot be read is rebuilt from all the history the channel keeps
        (and replaced by the next save), with one log line that names it."""
        channel = document.channel
        problem = ""
        try:
            snapshot = await self.store.load(channel)
        except CorruptDocument as exc:
            snapshot, problem = None, str(exc)
        if snapshot is not None:
            try:
                document.doc.apply_update(snapshot.state)
            except Exception as exc:
                document.doc = Doc()  # whatever the failed update left behind goes
                snapshot, problem = None, f"{self.store.where(channel)}: {exc}"
        if snapshot is not None:
            return Position(snapshot.epoch, snapshot.offset)
        if problem:
            log.warning("document %s: the stored document is unreadable and was rebuilt "
                        "from the channel's history (%s)", channel, problem)
            document.unsaved_since = self.clock()  # replace it at the next save
        # never saved (or unreadable): all the history the channel keeps
        position = await self.hub.position(channel)
        return BEFORE_START if position == BEFORE_START else Position(position.epoch, 0)

    def _published(self, pub: Publication) -> None:
        """A publication this server accepted: load its document if it is an update of a
        channel whose document is not loaded, so the document holds it whatever the
        channel's history keeps by the time someone reads it."""
        document = self.documents.get(pub.channel)
        if document is not None and document.stage is not Stage.UNLOADING:
            return
        if pub.channel in self._following or not pub.binary:
            return
        update = update_of(pub.payload)
        if update is None or not _decodes(update):  # binary data of another kind
            return
        self._following.add(pub.channel)
        task = asyncio.ensure_future(self._follow(pub.channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, channel: str) -> None:
        try:
            document = await self.load(channel)
            document.last_used = self.clock()
        except Exception:
            log.warning("loading document %s after an update failed", channel, exc_info=True)
        finally:
            self._following.discard(channel)

    async def unload(self, document: _Document) -> None:
        """Let go of a document's subscription, then save it (if needed) and forget it.
        Concurrent requests for it wait for this, then load it again."""
        if document.stage is Stage.LOADING:
            await asyncio.shield(document.loaded)
        if document.stage is Stage.UNLOADING:
            assert document.unloaded is not None
            await asyncio.shield(document.unloaded)
            return
        document.stage = Stage.UNLOADING
        document.unloaded = asyncio.get_running_loop().create_future()
        try:
            if self.hub.is_subscribed(document, document.channel):
                try:
                    await self.hub.unsubscribe(document, document.channel)
                except Exception:
                    log.warning("unsubscribing document %s failed", document.channel,
                                exc_info=True)
            await self.save(document)  # nothing changes it any more
        finally:
            if self.documents.get(document.channel) is document:
                del self.documents[document.channel]
            document.unloaded.set_result(None)

    def forget(self, document: _Document) -> None:
        if self.documents.get(document.channel) is document and document.stage is Stage.LOADED:
            del self.documents[document.channel]

    # -- saving --

    async def save(self, document: _Document) -> None:
        """Write the document's snapshot if anything changed since the last save. Saves
        of one document run one at a time; each takes the state when its turn comes, so
        the newest state is always written last."""
        async with document.save_lock:
            if document.unsaved_since is None:
                return
            snapshot = document.snapshot()
            document.unsaved, document.unsaved_since = 0, None
            try:
                await self.store.save(document.channel, snapshot)
            except Exception as exc:
                # the first failure in a row with its traceback, the next ones quietly
                document.save_failures += 1
                where = self.store.where(document.channel)
                if document.save_failures == 1:
                    log.exception("saving document %s to %s failed; retrying every %g s",
                                  document.channel, where, self.save_delay)
                else:
                    log.debug("saving document %s to %s failed again: %s",
                              document.channel, where, exc)
                if document.unsaved_since is None:
                    document.unsaved_since = self.clock()
                return
            if document.save_failures:
                log.info("document %s saved after %d failed attempts", document.channel,
                         document.save_failures)
                document.save_failures = 0

    def save_soon(self, document: _Document) -> None:
        if document.saving is None or document.saving.done():
            document.saving = asyncio.ensure_future(self.save(document))

    async def sweep(self) -> None:
        """Save what is due by age, and unload what is idle."""
        now = self.clock()
        for document in list(self.documents.values()):
            if document.stage is not Stage.LOADED:
                continue
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
