"""Where documents' snapshots are kept between loads and across restarts.

Public names: :class:`Snapshot`, :class:`DocumentStore`, :class:`FileStore`,
:class:`MemoryStore`, :class:`ImportingStore`, :class:`CorruptDocument`. A broker with a
durable store keeps documents in it (SQLite: a table of its file; Redis: a hash beside the
channel), through :meth:`Broker.document_storage
<jupyter_realtime.brokers.base.Broker.document_storage>`, which gives a
:class:`DocumentStore` too: ``docs/shared-cells.md`` says which store serves which broker.

A store keeps one snapshot per document, the merged state and the channel position it
includes, replaced on each save: its size follows the document, never the number of edits.
Loading creates nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from pathlib import Path

import orjson

from ..brokers.base import CorruptDocument, StoredDocument
from ..brokers.base import DocumentStorage as DocumentStore

__all__ = [
    "CorruptDocument",
    "DocumentStore",
    "FileStore",
    "ImportingStore",
    "MemoryStore",
    "Snapshot",
]

log = logging.getLogger("jupyter_realtime.documents")

#: a document's merged state (a Yjs update) and the position of its channel it includes
Snapshot = StoredDocument

#: file names of at most this many hex digits name the channel; longer ones its hash
HEX_NAME_MAX = 200


class MemoryStore(DocumentStore):
    """Snapshots in a dict: for tests, and servers that need no persistence."""

    def __init__(self) -> None:
        self.snapshots: dict[str, Snapshot] = {}

    def where(self, name: str) -> str:
        return f"memory ({name!r})"

    async def load(self, name: str) -> Snapshot | None:
        return self.snapshots.get(name)

    async def save(self, name: str, document: Snapshot) -> None:
        self.snapshots[name] = document


class FileStore(DocumentStore):
    """One file per document in ``directory``: a JSON header line, then the state.

    The file name is the hex of the channel name (channel names may hold ``:``, which some
    file systems refuse), or ``sha256-<hex of its SHA-256>`` when that would be longer
    than :data:`HEX_NAME_MAX` digits (a file name holds 255 bytes, a channel name up to
    200 characters). A save writes a temporary file of its own and renames it over the
    old one, so concurrent saves never share a file and a crash never leaves half a
    snapshot. Loading creates nothing, not even the directory.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        hexed = name.encode().hex()
        if len(hexed) > HEX_NAME_MAX:
            hexed = "sha256-" + hashlib.sha256(name.encode()).hexdigest()
        return self.directory / (hexed + ".ydoc")

    def where(self, name: str) -> str:
        return f"the file {self.path(name)}"

    async def load(self, name: str) -> Snapshot | None:
        return await asyncio.to_thread(self._load, self.path(name))

    async def save(self, name: str, document: Snapshot) -> None:
        await asyncio.to_thread(self._save, self.path(name), document)

    @staticmethod
    def _load(path: Path) -> Snapshot | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:  # a directory in its place, no permission
            raise CorruptDocument(f"the file {path}: {exc}") from None
        header, newline, state = raw.partition(b"\n")
        try:
            meta = orjson.loads(header)
            snapshot = Snapshot(str(meta["epoch"]), int(meta["offset"]), state)
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
            raise CorruptDocument(f"the file {path}: a bad header ({exc!r})") from None
        if not newline:
            raise CorruptDocument(f"the file {path}: no state after the header")
        return snapshot

    @staticmethod
    def _save(path: Path, snapshot: Snapshot) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = orjson.dumps({"epoch": snapshot.epoch, "offset": snapshot.offset})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with open(fd, "wb") as f:
                f.write(header + b"\n" + snapshot.state)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class ImportingStore(DocumentStore):
    """``store``, and for a document it does not hold, the snapshot of ``legacy`` (the
    files an earlier version kept beside the SQLite broker), copied into ``store`` when it
    is first read. ``legacy`` is never written or deleted."""

    def __init__(self, store: DocumentStore, legacy: DocumentStore) -> None:
        self.store, self.legacy = store, legacy

    def where(self, name: str) -> str:
        return self.store.where(name)

    async def load(self, name: str) -> Snapshot | None:
        found = await self.store.load(name)
        if found is None:
            try:
                found = await self.legacy.load(name)
            except CorruptDocument as exc:
                log.warning("document %s: ignored an unreadable older snapshot: %s", name, exc)
            if found is not None:
                await self.store.save(name, found)
                log.info("document %s: moved from %s to %s", name, self.legacy.where(name),
                         self.store.where(name))
        return found

    async def save(self, name: str, document: Snapshot) -> None:
        await self.store.save(name, document)

    async def close(self) -> None:
        await self.store.close()
        await self.legacy.close()
