"""The Yjs messages a shared cell's channels carry (``docs/shared-cells.md``).

Public names: :data:`SOURCE`, :data:`AWARENESS_SUFFIX`, :func:`awareness_channel`,
:func:`update_message`, :func:`update_of`.

A document channel carries y-protocols sync messages: ``0x00 0x02 varUint(len) update`` (an
update) or ``0x00 0x01 ...`` (sync step 2, the same payload). pycrdt encodes and decodes them,
as ``y-protocols/sync`` does in the browser.
"""

from __future__ import annotations

from pycrdt import YMessageType, YSyncMessageType, create_update_message, read_message

__all__ = [
    "AWARENESS_SUFFIX", "EMPTY_UPDATE", "SOURCE", "awareness_channel", "update_message", "update_of"
]

#: the name of the document's ``Text`` (the one JupyterLab's shared cells use)
SOURCE = "source"
#: the sibling channel of a document that carries awareness
AWARENESS_SUFFIX = ":awareness"
#: an update that holds nothing (``Y.encodeStateAsUpdate`` of an empty difference)
EMPTY_UPDATE = b"\x00\x00"

_UPDATES = (YSyncMessageType.SYNC_UPDATE, YSyncMessageType.SYNC_STEP2)


def awareness_channel(channel: str) -> str:
    """The channel that carries the awareness of document ``channel``."""
    return channel + AWARENESS_SUFFIX


def update_message(update: bytes) -> bytes:
    """A Yjs update as the sync message published on a document channel."""
    return create_update_message(update)


def update_of(message: object) -> bytes | None:
    """The Yjs update in a document channel's publication; None for anything else
    (a receiver ignores what it cannot apply)."""
    if not isinstance(message, bytes) or len(message) < 3:
        return None
    if message[0] != YMessageType.SYNC or message[1] not in _UPDATES:
        return None
    try:
        return read_message(message[2:])
    except Exception:  # a truncated or malformed length
        return None
