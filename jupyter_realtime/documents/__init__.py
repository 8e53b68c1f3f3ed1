"""Shared documents: the merged state of every open shared cell, kept by the server.

Public names: :class:`DocumentService`, :class:`DocumentState`, :class:`DocumentStore`,
:class:`FileStore`, :class:`MemoryStore`, :class:`ImportingStore`, :class:`CorruptDocument`,
:class:`Snapshot`, :class:`Stage`, :class:`DocumentsConfig`, and the message helpers of
:mod:`.codec`. ``docs/shared-cells.md`` is the contract.

The service sits above the hub and below the sessions: it subscribes to a document's channel
through the hub like any connection, never reaches into a broker and never imports Tornado.
"""

from __future__ import annotations

from .codec import AWARENESS_SUFFIX, SOURCE, awareness_channel, update_message, update_of
from .config import DocumentsConfig
from .service import DocumentService, DocumentState, Stage
from .store import (
    CorruptDocument,
    DocumentStore,
    FileStore,
    ImportingStore,
    MemoryStore,
    Snapshot,
)

__all__ = [
    "AWARENESS_SUFFIX",
    "SOURCE",
    "CorruptDocument",
    "DocumentService",
    "DocumentState",
    "DocumentStore",
    "DocumentsConfig",
    "FileStore",
    "ImportingStore",
    "MemoryStore",
    "Snapshot",
    "Stage",
    "awareness_channel",
    "update_message",
    "update_of",
]
