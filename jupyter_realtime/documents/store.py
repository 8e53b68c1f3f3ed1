"""Where documents' snapshots are kept between loads and across restarts.

Public names: :class:`Snapshot`, :class:`DocumentStore`, :class:`FileStore`,
:class:`MemoryStore`. The Redis store is in :mod:`.redis_store` (imported only with Redis).

A store keeps one snapshot per document, the merged state and the channel position it
includes, replaced on each save: its size follows the document, never the number of edits.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

__all__ = ["DocumentStore", "FileStore", "MemoryStore", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """A document's merged state (a Yjs update) and the position of its channel it includes."""

    epoch: str
    offset: int
    state: bytes


class DocumentStore(Protocol):
    """Loads and saves snapshots. ``save`` replaces the previous snapshot atomically: a
    failed or interrupted save leaves the previous one whole."""

    async def load(self, channel: str) -> Snapshot | None: ...

    async def save(self, channel: str, snapshot: Snapshot) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """Snapshots in a dict: for tests, and servers that need no persistence."""

    def __init__(self) -> None:
        self.snapshots: dict[str, Snapshot] = {}

    async def load(self, channel: str) -> Snapshot | None:
        return self.snapshots.get(channel)

    async def save(self, channel: str, snapshot: Snapshot) -> None:
        self.snapshots[channel] = snapshot

    async def close(self) -> None:
        pass


class FileStore:
    """One file per document in ``directory``: a JSON header line, then the state.

    The file name is the hex of the channel name (channel names may hold ``:``, which some
    file systems refuse). A save writes a temporary file and renames it over the old one.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, channel: str) -> Path:
        return self.directory / (channel.encode().hex() + ".ydoc")

    async def load(self, channel: str) -> Snapshot | None:
        return await asyncio.to_thread(self._load, self.path(channel))

    async def save(self, channel: str, snapshot: Snapshot) -> None:
        await asyncio.to_thread(self._save, self.path(channel), snapshot)

    async def close(self) -> None:
        pass

    @staticmethod
    def _load(path: Path) -> Snapshot | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        header, _, state = raw.partition(b"\n")
        meta = orjson.loads(header)
        return Snapshot(str(meta["epoch"]), int(meta["offset"]), state)

    @staticmethod
    def _save(path: Path, snapshot: Snapshot) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = orjson.dumps({"epoch": snapshot.epoch, "offset": snapshot.offset})
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(header + b"\n" + snapshot.state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
