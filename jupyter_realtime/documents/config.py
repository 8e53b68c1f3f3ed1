"""The configuration of shared documents, as traits of ``RealtimeApp``.

Public name: :class:`DocumentsConfig`, a mixin of :class:`~jupyter_realtime.app.RealtimeApp`
(``c.RealtimeApp.documents_dir`` and so on). ``docs/shared-cells.md`` explains the choices.
"""

from __future__ import annotations

import os
from typing import Any

from traitlets import Float, HasTraits, Int, Unicode

from ..hub import Hub
from .service import DocumentService
from .store import DocumentStore, FileStore, ImportingStore

__all__ = ["DocumentsConfig"]


class DocumentsConfig(HasTraits):
    log: Any

    documents_dir = Unicode(
        "",
        config=True,
        help="Directory of shared cells' snapshots with the in-memory broker (memory://). "
        "With the SQLite broker (the default) documents are kept in its database, and "
        "snapshots found here (files of earlier versions) are read once and moved into it; "
        "with Redis they live in Redis. Default: '' (realtime/documents under Jupyter's "
        "data directory).",
    )
    documents_idle_unload = Float(
        300.0,
        config=True,
        help="Seconds a shared document stays loaded without other subscribers or requests "
        "before it is saved and let go. Default: 300.",
    )
    documents_save_delay = Float(
        2.0,
        config=True,
        help="Seconds an edit of a shared document may wait before its snapshot is saved, "
        "even while it stays busy. Default: 2.",
    )
    documents_save_bytes = Int(
        65536,
        config=True,
        help="Bytes of edits of a shared document that trigger a save at once. Default: 65536.",
    )

    def make_document_store(self, hub: Hub) -> DocumentStore:
        """The broker's own durable store when it has one (SQLite: a table of its file;
        Redis: beside each channel), else files under ``documents_dir``."""
        directory = self.documents_dir
        if not directory:
            from jupyter_core.paths import jupyter_data_dir

            directory = os.path.join(jupyter_data_dir(), "realtime", "documents")
        files = FileStore(directory)
        storage = hub.broker.document_storage()
        if storage is None:
            return files
        from ..brokers.sqlite import SQLiteBroker

        importing = isinstance(hub.broker, SQLiteBroker)  # earlier versions kept files beside it
        if self.documents_dir:
            self.log.warning(
                "RealtimeApp.documents_dir is deprecated with this broker: shared cells are "
                "kept in the broker's store%s",
                f"; snapshots in {directory} are only read, when a document is not in it yet"
                if importing else ", and snapshots in that directory are not read",
            )
        return ImportingStore(storage, files) if importing else storage

    def make_documents(self, hub: Hub) -> DocumentService:
        return DocumentService(
            hub,
            self.make_document_store(hub),
            idle_unload=self.documents_idle_unload,
            save_delay=self.documents_save_delay,
            save_bytes=self.documents_save_bytes,
        )
