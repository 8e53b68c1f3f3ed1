"""Three-way text edits: turn the text a caller last read into the text it wants, applied to
the text as it is now, through the changes others made in between.

Public names: :class:`Edit`, :func:`text_edits`, :func:`rebase`, :func:`apply_edits`.

1. :func:`text_edits` diffs the text read (``base``) against the new text: common prefix and
   suffix, then diff-match-patch (Myers' O(ND) diff, line-mode first for long texts) with a
   deadline, so the cost is bounded whatever the texts: past the deadline the diff is coarser
   (a larger span replaced), never slower. It runs in the caller's thread.
2. :func:`rebase` carries each edit through the changes others made since the read (pycrdt
   text deltas, in UTF-8 bytes): an insertion lands where its place moved to; a deletion
   removes only the characters of ``base`` it meant to remove that still exist, so text others
   inserted inside a deleted span survives, and text others deleted stays deleted.
3. :func:`apply_edits` applies the rebased edits to the ``Text`` in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diff_match_patch import diff_match_patch

__all__ = ["Edit", "apply_edits", "rebase", "text_edits"]

Delta = list[dict[str, Any]]

#: seconds a diff may take before it settles for a coarser answer
DIFF_DEADLINE = 0.02


@dataclass
class Edit:
    """Replace the bytes ``deletes`` (half-open ranges, UTF-8 offsets) by ``insert`` at
    ``at``. ``deletes`` may be cut in pieces by others' insertions."""

    at: int
    insert: str
    deletes: list[tuple[int, int]] = field(default_factory=list)


def text_edits(base: str, new: str, deadline: float = DIFF_DEADLINE) -> list[Edit]:
    """The edits that turn ``base`` into ``new``, in UTF-8 byte offsets of ``base``."""
    if base == new:
        return []
    dmp = diff_match_patch()
    dmp.Diff_Timeout = deadline
    diffs = dmp.diff_main(base, new, len(base) + len(new) > 2000)
    edits: list[Edit] = []
    pos = 0  # bytes of base passed
    for op, chunk in diffs:
        size = len(chunk.encode("utf-8")) if op != 1 else 0
        if op == 0:
            pos += size
            continue
        last = edits[-1] if edits and _touches(edits[-1], pos) else None
        if last is None:
            last = Edit(pos, "")
            edits.append(last)
        if op == -1:
            last.deletes.append((pos, pos + size))
            pos += size
        else:
            last.insert += chunk
    return edits


def _touches(edit: Edit, pos: int) -> bool:
    end = edit.deletes[-1][1] if edit.deletes else edit.at
    return end == pos


def _map_point(delta: Delta, p: int) -> int:
    """Where position ``p`` is after ``delta`` (after what others inserted right there)."""
    old = new = 0
    for op in delta:
        if "retain" in op:
            n = op["retain"]
            if p < old + n:
                return new + p - old
            old += n
            new += n
        elif "insert" in op:
            if old <= p:
                new += _size(op["insert"])
        elif "delete" in op:
            n = op["delete"]
            if p < old + n:
                return new
            old += n
    return new + p - old


def _map_range(delta: Delta, a: int, b: int) -> list[tuple[int, int]]:
    """The pieces of ``[a, b)`` that survive ``delta``, where they are after it."""
    pieces: list[tuple[int, int]] = []
    old = new = 0
    for op in delta:
        if old >= b:
            break
        if "retain" in op:
            n = op["retain"]
            lo, hi = max(a, old), min(b, old + n)
            if lo < hi:
                pieces.append((new + lo - old, new + hi - old))
            old += n
            new += n
        elif "insert" in op:
            new += _size(op["insert"])
        elif "delete" in op:
            old += op["delete"]
    if old < b:  # past the delta's end: retained
        lo = max(a, old)
        pieces.append((new + lo - old, new + b - old))
    merged: list[tuple[int, int]] = []
    for lo, hi in pieces:
        if merged and merged[-1][1] == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _size(insert: Any) -> int:
    return len(insert.encode("utf-8")) if isinstance(insert, str) else 1


def rebase(edits: list[Edit], deltas: list[Delta]) -> list[Edit]:
    """``edits`` carried through ``deltas`` (others' changes since the read, oldest first)."""
    for delta in deltas:
        edits = [
            Edit(_map_point(delta, e.at), e.insert,
                 [piece for lo, hi in e.deletes for piece in _map_range(delta, lo, hi)])
            for e in edits
        ]
    return edits


def apply_edits(text: Any, edits: list[Edit]) -> None:
    """Apply ``edits`` (UTF-8 offsets of the text as it is now: the unit of pycrdt's ``Text``
    indices and deltas) to pycrdt ``text``, from the end, in one transaction (one update)."""
    if not edits:
        return
    # (position, kind, which edit, end, text); kind 1: delete. Applied from the last: two
    # insertions at one place (the text between them deleted by others) keep their order.
    ops: list[tuple[int, int, int, int, str]] = []
    for i, e in enumerate(edits):
        ops.extend((lo, 1, i, hi, "") for lo, hi in e.deletes)
        if e.insert:
            ops.append((e.at, 0, i, e.at, e.insert))
    with text.doc.transaction():
        for pos, kind, _, end, insert in sorted(ops, reverse=True):
            if kind:
                del text[pos:end]
            else:
                text.insert(pos, insert)
