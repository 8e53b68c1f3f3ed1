"""The configuration of shared documents, as traits of ``RealtimeApp``.

Public name: :class:`DocumentsConfig`, a mixin of :class:`~jupyter_realtime.app.RealtimeApp`
(``c.RealtimeApp.documents_dir`` and so on). ``docs/shared-cells.md`` explains the choices.
"""

from __future__ import annotations

import os

from traitlets import Float, HasTraits, Int, Unicode

from ..hub import Hub
from .service import DocumentService
from .store import DocumentStore, FileStore

__all__ = ["DocumentsConfig"]


class DocumentsConfig(HasTraits):
    documents_dir = Unicode(
        "",
        config=True,
        help="Directory of shared cells' snapshots with the in-memory broker (with Redis they "
        "live in Redis). Default: '' (realtime/documents under Jupyter's data directory).",
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

    def make_document_store(self, broker_url: str, key_prefix: str) -> DocumentStore:
        """Redis when the broker is Redis (so other servers continue from it), else files."""
        if broker_url.startswith(("redis://", "rediss://", "unix://")):
            from .redis_store import RedisStore

            return RedisStore(broker_url, key_prefix=key_prefix)
        directory = self.documents_dir
        if not directory:
            from jupyter_core.paths import jupyter_data_dir

            directory = os.path.join(jupyter_data_dir(), "realtime", "documents")
        return FileStore(directory)

    def make_documents(self, hub: Hub, broker_url: str, key_prefix: str) -> DocumentService:
        return DocumentService(
            hub,
            self.make_document_store(broker_url, key_prefix),
            idle_unload=self.documents_idle_unload,
            save_delay=self.documents_save_delay,
            save_bytes=self.documents_save_bytes,
        )
