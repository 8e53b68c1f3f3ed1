"""The outputs of ``%realtime watch``, cut into blocks that are sent apart.

Public names: :data:`BLOCK_CHARS`, :func:`blocks`, :func:`write_stream`, :func:`shown`.

An ipywidgets ``Output`` sends all of its outputs whenever they change, so the watch view
(``_watch``) shows a cell's outputs in several ``Output`` widgets of about ``BLOCK_CHARS``
characters each. The cut is made greedily from the start of the cell and only at line
ends, so output that grows at the end leaves every full block as it was: only the last block
changes, and new blocks are added. A ``\\r`` never reaches back across a cut, since a block's
text ends with a line end. Pure functions, without widgets: tested as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["BLOCK_CHARS", "blocks", "shown", "write_stream"]

BLOCK_CHARS = 16_384  # about how much one update of the view sends, at most


def write_stream(text: str, new: str) -> str:
    """``text`` after writing ``new`` to it as a terminal would: a ``\\r`` returns to the
    start of the line and the characters after it overwrite the line (``\\r\\n`` is a line
    end). Only the last line can change, so the view's text stays the size of what it shows,
    however often a progress line is rewritten. A ``\\r`` at the very end is kept: the next
    text (``print(i, end="\\r")``) overwrites the line it ends."""
    if "\r" not in new and not text.endswith("\r"):
        return text + new
    start = text.rfind("\n") + 1
    lines = (text[start:] + new).replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        if "\r" in line:
            shown = ""
            for part in line.split("\r"):
                shown = part + shown[len(part) :]
            lines[i] = shown + "\r" if line.endswith("\r") else shown
    return text[:start] + "\n".join(lines)


def _size(output: dict[str, Any]) -> int:
    """About how many characters an output takes on the wire."""
    if output["output_type"] == "stream":
        return len(output["text"])
    if output["output_type"] == "error":
        return sum(len(line) for line in output.get("traceback", ()))
    data = output.get("data", {})
    return sum(len(v) if isinstance(v, str) else 64 for v in data.values())


def blocks(outputs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], ...]]:
    """``outputs`` (one cell's, in order) as blocks of about ``BLOCK_CHARS`` characters.

    A stream's text is cut at the first line end after the block is full; another output is
    never cut (a block holds at least one). The view's private keys (``display_id``,
    ``header``) are left out: what is returned is what the widgets show."""
    result: list[tuple[dict[str, Any], ...]] = []
    block: list[dict[str, Any]] = []
    size = 0
    for output in outputs:
        if output["output_type"] != "stream":
            block.append({k: v for k, v in output.items() if k not in ("display_id", "header")})
            size += _size(output)
        else:
            text, start = output["text"], 0
            while start < len(text):
                room = BLOCK_CHARS - size
                end = len(text)
                if end - start > room:
                    end = text.find("\n", start + room - 1) + 1 or len(text)
                piece = {"output_type": "stream", "name": output["name"], "text": text[start:end]}
                block.append(piece)
                size += end - start
                start = end
                if size >= BLOCK_CHARS:
                    result.append(tuple(block))
                    block, size = [], 0
            continue
        if size >= BLOCK_CHARS:
            result.append(tuple(block))
            block, size = [], 0
    if block:
        result.append(tuple(block))
    return result


def shown(widgets: Iterable[Any]) -> list[dict[str, Any]]:
    """The outputs of ``Output`` widgets, one after the other."""
    return [output for widget in widgets for output in widget.outputs]
