"""Shared documents in the SQLite broker's file: the ``documents`` table.

Public name: :class:`SQLiteDocuments`, what :meth:`SQLiteBroker.document_storage
<jupyter_realtime.brokers.sqlite.SQLiteBroker.document_storage>` returns. One row per
document (its channel name, of any legal length, is the key), written by the broker's
writer thread in the same transactions as the channels' history, so a saved document and
the publications it includes are committed together, off the event loop. Reads go through
the same thread (:meth:`~._sqlite_store.SQLiteStore.query`), in order with the writes.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from ..errors import ErrorCode, RealtimeError
from .base import CorruptDocument, DocumentStorage, StoredDocument

if TYPE_CHECKING:
    from .sqlite import SQLiteBroker

__all__ = ["SQLiteDocuments"]

_LOAD = "SELECT epoch, offset, state FROM documents WHERE name = ?"


class SQLiteDocuments(DocumentStorage):
    def __init__(self, broker: SQLiteBroker) -> None:
        self.broker = broker

    def where(self, name: str) -> str:
        return f"the documents table of {self.broker.path} (name {name!r})"

    def _check(self) -> None:
        if not self.broker.store.running:
            raise RealtimeError(
                ErrorCode.UNAVAILABLE, f"the realtime database {self.broker.path} is closed"
            )

    async def load(self, name: str) -> StoredDocument | None:
        self._check()

        def read(db: sqlite3.Connection) -> tuple[object, object, object] | None:
            row = db.execute(_LOAD, (name,)).fetchone()
            return None if row is None else (row[0], row[1], row[2])

        row = await self.broker.store.query(read)
        if row is None:
            return None
        epoch, offset, state = row
        if not (isinstance(epoch, str) and isinstance(offset, int) and isinstance(state, bytes)):
            raise CorruptDocument(f"{self.where(name)}: a row of unexpected types")
        return StoredDocument(epoch, offset, state)

    async def save(self, name: str, document: StoredDocument) -> None:
        self._check()
        await self.broker.save_document(name, document)
