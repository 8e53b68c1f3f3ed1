"""The Yjs messages a shared cell's channels carry (``docs/shared-cells.md``).

Public names: :data:`SOURCE`, :data:`AWARENESS_SUFFIX`, :func:`awareness_channel`,
:func:`update_message`, :func:`update_of`, :func:`is_sync_update`, :func:`strict_update_of`.

A document channel carries y-protocols sync messages: ``0x00 0x02 varUint(len) update`` (an
update) or ``0x00 0x01 ...`` (sync step 2, the same payload). pycrdt encodes and decodes them,
as ``y-protocols/sync`` does in the browser.
"""

from __future__ import annotations

from pycrdt import YMessageType, YSyncMessageType, create_update_message, read_message

__all__ = [
    "AWARENESS_SUFFIX", "EMPTY_UPDATE", "MERGE_FIRST", "SOURCE", "awareness_channel",
    "is_sync_update", "strict_update_of", "update_message", "update_of",
]

#: the name of the document's ``Text`` (the one JupyterLab's shared cells use)
SOURCE = "source"
#: the sibling channel of a document that carries awareness
AWARENESS_SUFFIX = ":awareness"
#: an update that holds nothing (``Y.encodeStateAsUpdate`` of an empty difference)
EMPTY_UPDATE = b"\x00\x00"
#: the end of a refusal of an update that builds on one the server has not received yet (a
#: publish lost with a connection): its sender merges, instead of dropping its edits
MERGE_FIRST = "merge first"

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


def is_sync_update(payload: bytes) -> bool:
    """Whether a receiver would read a binary publication as a sync update message:
    ``0x00 0x01|0x02`` then a length that the bytes present hold (receivers ignore anything
    else). What receivers would apply, the server applies first (``relay.py``)."""
    if len(payload) < 3 or payload[0] != 0 or payload[1] not in (1, 2):
        return False
    length = shift = 0
    for pos in range(2, min(len(payload), 11)):
        b = payload[pos]
        length |= (b & 0x7F) << shift
        if b < 0x80:
            return length <= len(payload) - pos - 1
        shift += 7
    return False


def strict_update_of(message: bytes) -> bytes:
    """The update in a sync update message; ``ValueError`` unless the message is exactly
    ``0x00 0x01|0x02 varUint(len) update`` (no bytes missing, none after)."""
    if len(message) < 3 or message[0] != 0 or message[1] not in (1, 2):
        raise ValueError("not a sync update message (0x00 0x01 or 0x00 0x02)")
    length = shift = 0
    pos = 2
    while True:
        if pos >= len(message) or shift > 28:
            raise ValueError("the message's length is truncated or too long")
        b = message[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    if length != len(message) - pos:
        raise ValueError(
            f"the message declares an update of {length} bytes but holds {len(message) - pos}"
        )
    return message[pos:]
