"""The durable embedded broker, the default: channels kept in one SQLite file.

Public names: :class:`SQLiteBroker`, :func:`sqlite_path`. A restart of the server, even
``kill -9``, loses nothing that was acknowledged and keeps every channel's epoch and
offset, its history and its idempotency keys, so a resuming client gets
``recovered: true`` and exactly what it missed.

It is the in-memory broker (:class:`~.memory.MemoryBroker`: same semantics, same limits)
with its state written to disk:

* **Working set in memory, truth on disk.** Reads are served from memory; at start the
  file is read back whole (:mod:`._sqlite_store`), and the bounds (each channel's
  retention rule, the total bytes, ``meta_ttl``) are applied again.
* **Trimmed off the loop.** The retention rules are applied to the working set on the
  loop (cheap: dropping from the head of a deque); what that leaves out is deleted from
  the file by the writer thread, as a trim of the batch (a ``DELETE`` of the offsets
  before the first kept one), never on the loop.
* **Acknowledged once committed.** A publication gets its offset and goes to live
  subscribers at once, on the event loop, as with the memory broker; ``publish`` returns
  (and so the WebSocket reply, the REST 200 or the uplink ack goes out) only once the
  transaction holding it is committed. A repeat of a known idempotency key waits for the
  same, so it never acknowledges a first publication that is not yet stored.
* **Group commit off the loop.** What one event-loop turn changes (publications, keys,
  positions, trims) is one :class:`~._sqlite_store.Batch`; a writer thread commits every
  batch waiting in one transaction. Fan-out never waits on the disk.

What a crash can still cost: a publication delivered live but not yet committed when the
process died is not in the file. Its offset is given again after the restart, and a
client that saw it resumes from beyond the channel's newest offset, which
:meth:`SQLiteBroker.history` answers with ``recovered: false``, so the client learns it.

Presence is not kept: after a restart nobody is present until clients come back.
Shared documents are kept in the same file (:mod:`._sqlite_documents`), written with the
channels. Where the file lives and how big it gets: ``docs/storage.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from pathlib import Path
from typing import Any

from ..protocol import Position, Publication
from ._sqlite_documents import SQLiteDocuments
from ._sqlite_store import Batch, Loaded, SQLiteStore, StoreError
from .base import DocumentStorage, HistoryResult, StoredDocument
from .memory import MemoryBroker, _Channel, kept_size

__all__ = ["DEFAULT_BYTES", "DEFAULT_BYTES_TOTAL", "SQLiteBroker", "StoreError", "sqlite_path"]

SCHEME = "sqlite://"
# History per channel when no rule says otherwise: several hours of a mirrored cell that
# prints every step (docs/storage.md has the measurements), and of every channel together.
DEFAULT_BYTES = 256 << 20
DEFAULT_BYTES_TOTAL = 1 << 30


def sqlite_path(url: str, data_dir: str | Path, root_dir: str | Path) -> Path:
    """The database file of a ``broker_url``: ``sqlite:///abs/path`` (or
    ``sqlite://relative/path``, from the working directory), else the default for a
    server root: ``DATA_DIR/realtime/<16 hex digits of the root's hash>.sqlite3``, so that
    servers of different roots on one machine never share a file."""
    if url.startswith(SCHEME):
        return Path(url[len(SCHEME) :]).expanduser().absolute()
    root = str(Path(root_dir).expanduser().resolve())
    digest = hashlib.sha256(root.encode()).hexdigest()[:16]
    return Path(data_dir) / "realtime" / f"{digest}.sqlite3"


class SQLiteBroker(MemoryBroker):
    """Channels in the SQLite file ``path`` (default: from ``url``, a ``sqlite://``
    URL). ``synchronous``: ``"normal"`` or ``"full"`` (see :class:`~._sqlite_store.SQLiteStore`).
    Other options are the memory broker's, with larger defaults for the bytes of history
    (:data:`DEFAULT_BYTES` per channel, :data:`DEFAULT_BYTES_TOTAL` in all)."""

    def __init__(
        self, *, path: str | Path | None = None, synchronous: str = "normal", **kwargs: Any
    ) -> None:
        kwargs.setdefault("history_bytes", DEFAULT_BYTES)
        kwargs.setdefault("history_bytes_total", DEFAULT_BYTES_TOTAL)
        super().__init__(**kwargs)
        if path is None:
            if not self.url.startswith(SCHEME):
                raise ValueError(f"SQLiteBroker needs a path or a {SCHEME} url, not {self.url!r}")
            path = sqlite_path(self.url, "", "")
        self.path = Path(path)
        self.store = SQLiteStore(self.path, synchronous=synchronous)
        self._opened = False
        self._batch = Batch()
        self._dirty: set[str] = set()
        self._trimmed: dict[str, tuple[int, int]] = {}  # what the file keeps from, per channel
        self._scheduled: asyncio.Handle | None = None  # the flush of this loop turn
        self._pending: asyncio.Future[None] | None = None  # the batch being gathered
        self._last: asyncio.Future[None] | None = None  # the newest batch submitted

    # -- lifecycle --

    def open(self) -> None:
        """Open the file and load every channel; :class:`StoreError` names the file when
        it is locked by another process, corrupt or unreadable. Called by :meth:`start`
        if not before (the server calls it while it starts, to fail early)."""
        if not self._opened:
            self._load(self.store.open())
            self._opened = True

    async def start(self) -> None:
        self.open()
        self.store.start()
        self._flush_soon()
        await super().start()

    async def close(self) -> None:
        await super().close()
        if self._opened:
            if self._scheduled is not None:
                self._scheduled.cancel()
            if self.store.running:  # else never started: nothing changed since open()
                self._flush()  # whatever is left
            await self.store.close()
            self._opened = False

    def _load(self, loaded: Loaded) -> None:
        now = self.clock()
        pubs: dict[str, list[Publication]] = {}
        epochs = {name: epoch for name, epoch, _, until in loaded.channels if until is None}
        for channel, offset, ts, sender, binary, payload, sender_name, key in loaded.publications:
            if channel in epochs:
                pubs.setdefault(channel, []).append(
                    Publication(
                        channel, epochs[channel], offset, bytes(payload),
                        binary=bool(binary), ts=ts, sender=sender, sender_name=sender_name,
                        key=key,
                    )
                )
        retired = []
        for name, epoch, offset, until in loaded.channels:
            if until is not None:
                retired.append((until, name, epoch, offset))
                continue
            ch = self._channels[name] = _Channel(name, epoch, offset, self.retention.rule(name))
            kept = [p for p in pubs.get(name, ()) if p.offset <= offset]
            ch.history = deque(kept if ch.rule.keeps else ())
            ch.size = sum(kept_size(p) for p in ch.history)
            self.bytes += ch.size
            self._trim(ch, now)  # the rules may have changed since it was written
        for channel, key, offset, expires in loaded.keys:
            owner = self._channels.get(channel)
            if owner is not None and expires > now and offset <= owner.offset:
                owner.keys[key] = (offset, expires)
        self._load_latest(loaded)
        for ch in self._channels.values():
            while len(ch.keys) > self.idempotency_keys:
                ch.keys.popitem(last=False)
            self._dirty.add(ch.name)  # written back as loaded and bounded
        for until, name, epoch, offset in sorted(retired):  # oldest first, as the sweep wants
            self._retired[name] = (epoch, offset, until)
        if self.history_bytes_total and self.bytes > self.history_bytes_total:
            self._evict(self.history_bytes_total)
        self.sweep()

    def _load_latest(self, loaded: Loaded) -> None:
        """Each live channel's keyed publications, least recently published first, bounded
        by ``latest_keys`` again (what goes is deleted from the file)."""
        for channel, key, offset, ts, sender, binary, payload, sender_name in loaded.latest:
            ch = self._channels.get(channel)
            if ch is None or offset > ch.offset:
                self._batch.unlatest.append((channel, key))
                continue
            ch.latest[key] = Publication(
                channel, ch.epoch, offset, bytes(payload),
                binary=bool(binary), ts=ts, sender=sender, sender_name=sender_name, key=key,
            )
        for ch in self._channels.values():
            while len(ch.latest) > self.latest_keys:
                self._batch.unlatest.append((ch.name, ch.latest.popitem(last=False)[0]))

    # -- what the memory broker reports --

    def _changed(self, name: str) -> None:
        self._dirty.add(name)
        self._flush_soon()

    def _fresh(self, name: str) -> None:
        self._batch.resets.append(name)
        self._changed(name)

    def _appended(self, pub: Publication, key: str | None, expires: float) -> None:
        ch = self._channels.get(pub.channel)
        if ch is not None and ch.rule.keeps:
            self._batch.publications.append(
                (
                    pub.channel, pub.offset, pub.ts, pub.sender, int(pub.binary), pub.payload,
                    pub.sender_name, pub.key,
                )
            )
        if key is not None:
            self._batch.keys.append((pub.channel, key, pub.offset, expires))
        self._changed(pub.channel)

    def _latest_changed(self, pub: Publication, forgotten: list[str]) -> None:
        assert pub.key is not None
        self._batch.latest.append(
            (
                pub.channel, pub.key, pub.offset, pub.ts, pub.sender, int(pub.binary), pub.payload,
                pub.sender_name,
            )
        )
        self._batch.unlatest.extend((pub.channel, key) for key in forgotten)
        self._changed(pub.channel)

    def sweep(self) -> None:
        super().sweep()
        self._batch.expire_keys = self.clock()
        self._flush_soon()

    # -- writing --

    def _flush_soon(self) -> None:
        """Submit what this event-loop turn changed at the start of the next one."""
        if self._scheduled is not None or not self.store.running:
            return  # before start: everything is written by the first flush
        loop = asyncio.get_running_loop()
        self._pending = loop.create_future()
        self._scheduled = loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = None
        batch, self._batch = self._batch, Batch()
        trimmed = self._trimmed
        for name in batch.resets:
            trimmed.pop(name, None)
        for name in self._dirty:
            ch = self._channels.get(name)
            if ch is not None:
                first_key = next(iter(ch.keys.values()))[0] if ch.keys else ch.offset + 1
                batch.channels.append((name, ch.epoch, ch.offset, None))
                trim = (ch.first_kept, first_key)
            elif name in self._retired:
                epoch, offset, until = self._retired[name]
                batch.channels.append((name, epoch, offset, until))
                trim = (offset + 1, offset + 1)
            else:
                batch.forget.append(name)
                trimmed.pop(name, None)
                continue
            if trimmed.get(name) != trim:  # else nothing older is left to delete
                trimmed[name] = trim
                batch.trims.append((name, *trim))
        self._dirty.clear()
        pending, self._pending = self._pending, None
        self._last = committed = self.store.submit(batch)
        if pending is not None:
            committed.add_done_callback(lambda done: _chain(done, pending))

    # -- shared documents --

    def document_storage(self) -> DocumentStorage:
        return SQLiteDocuments(self)

    async def save_document(self, name: str, document: StoredDocument) -> None:
        """Write a shared document with this loop turn's changes; returns once committed
        (``RealtimeError(unavailable)`` if it could not be)."""
        self._batch.documents.append((name, document.epoch, document.offset, document.state))
        self._flush_soon()
        await self.committed()

    async def committed(self) -> None:
        """Wait until everything changed so far is committed (raises
        ``RealtimeError(unavailable)`` if it could not be)."""
        waiting = self._pending or self._last
        if waiting is not None and not (waiting.done() and waiting.exception() is None):
            await asyncio.shield(waiting)

    async def history(
        self, channel: str, *, since: Position | None = None, limit: int | None = None
    ) -> HistoryResult:
        """As the memory broker's, and a resume from beyond the newest offset (a client saw
        a publication the crash took before it was stored) is not recovered."""
        result = await super().history(channel, since=since, limit=limit)
        if since is not None and since.epoch == result.position.epoch:
            result.recovered = result.recovered and since.offset <= result.position.offset
        return result

    async def publish(
        self,
        channel: str,
        payload: bytes,
        *,
        binary: bool,
        sender: str | None,
        ts: float,
        idempotency_key: str | None = None,
        sender_name: str | None = None,
        key: str | None = None,
    ) -> Publication:
        pub = await super().publish(
            channel, payload, binary=binary, sender=sender, ts=ts,
            idempotency_key=idempotency_key, sender_name=sender_name, key=key,
        )
        await self.committed()
        return pub


def _chain(source: asyncio.Future[None], target: asyncio.Future[None]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(None)
        return
    target.exception()  # whoever awaits it still gets it; nobody else must log it
