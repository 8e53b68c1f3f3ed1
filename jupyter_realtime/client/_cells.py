"""Mirrored cells whose start a view no longer has.

Public names: :data:`DROPPED`, :func:`cell_key`, :class:`CellStarts`.

A mirrored run publishes each cell's ``cell_start`` (its execution count and code) with the
key :func:`cell_key`, so the channel keeps it beyond its history (``docs/kernel.md``). A view
that meets output of a cell whose ``cell_start`` it has not seen (the history no longer
reaches back to it) fetches that header by key and shows one line, :data:`DROPPED`, under
it. The watch page and the lab extension do the same in ``labextension/src/watch``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["DROPPED", "CellStarts", "cell_key"]

DROPPED = "earlier output of this cell was dropped"
_NOT_KEY = re.compile(r"[^A-Za-z0-9_\-.:@/=+,]")


def cell_key(cell: str) -> str:
    """The publication key of a mirrored cell's ``cell_start``: ``cell:<cell id>`` (the
    id's characters outside a key's become ``_``; at most 200 characters)."""
    return "cell:" + _NOT_KEY.sub("_", cell)[:195]


class CellStarts:
    """Which cells a view has seen start; :meth:`missing` names a cell met without its start."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def missing(self, data: Any) -> str | None:
        """The cell of ``data`` if it is a mirrored message of a cell not seen to start
        (once per cell: the cell is then counted as seen)."""
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return None
        cell = data.get("cell")
        if not isinstance(cell, str) or not cell or cell in self._seen:
            return None
        self._seen.add(cell)
        return None if data["type"] == "cell_start" else cell
