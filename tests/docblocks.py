"""The code blocks of the Markdown docs, as a reader would paste them.

``blocks(path)`` returns every block of one page, in order:

- fenced blocks (```` ``` ```` or ``~~~``, also indented inside a list item), with the
  fence's language (``""`` when it has none);
- 4-space indented blocks outside fences (the README's shell commands), language ``""``;
- on README.md only, *inline cells*: a paragraph that starts with an inline code span that
  calls something and is followed by ``:`` (the widget gallery, ``LiveLog("alerts")``: ...),
  language ``"python"``.

A block's ``tag`` is the HTML comment ``<!-- docs-test: TAG -->`` on the nearest non-blank
line above it (``skip: REASON``, ``output``, ``config``, ``python``, ``sh``), else ``""``.
``Block.id`` is ``FILE:LINE`` of the block's first line of code, which names it in test ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "blocks"]

TAG = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
INLINE_CELL = re.compile(r"^`([^`]*\w\([^`]*\))`:")


@dataclass(frozen=True)
class Block:
    """One block: where it is, its language, its text (dedented) and its tag."""

    path: str
    line: int
    lang: str
    text: str
    tag: str = ""
    kind: str = "fenced"

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def _tag_above(lines: list[str], index: int) -> str:
    for j in range(index - 1, -1, -1):
        if lines[j].strip():
            found = TAG.match(lines[j])
            return found.group(1) if found else ""
    return ""


def blocks(path: Path, name: str | None = None) -> list[Block]:
    """Every block of the Markdown file ``path``; ``name`` is how ids spell the file."""
    name = name or path.name
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    previous_blank = True
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            indent, mark, lang = len(fence.group(1)), fence.group(2), fence.group(3)
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(mark):
                text = lines[j]
                body.append(text[indent:] if text[:indent].strip() == "" else text.lstrip())
                j += 1
            found.append(Block(name, i + 2, lang, "\n".join(body) + "\n", _tag_above(lines, i)))
            i, previous_blank = j + 1, False
            continue
        if previous_blank and line.startswith("    ") and line.strip() and not _in_list(lines, i):
            body = []
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                body.append(lines[j][4:])
                j += 1
            while body and not body[-1].strip():
                body.pop()
            found.append(
                Block(name, i + 1, "", "\n".join(body) + "\n", _tag_above(lines, i), "indented")
            )
            i, previous_blank = j, False
            continue
        cell = INLINE_CELL.match(line) if name == "README.md" and previous_blank else None
        if cell:
            tag = _tag_above(lines, i)
            found.append(Block(name, i + 1, "python", cell.group(1) + "\n", tag, "inline"))
        previous_blank = not line.strip()
        i += 1
    return found


def _in_list(lines: list[str], index: int) -> bool:
    """Whether an indented line continues a list item (then it is not a code block)."""
    for j in range(index - 1, -1, -1):
        text = lines[j]
        if not text.strip():
            continue
        if text.startswith("    "):
            continue
        return bool(re.match(r"^\s*([-*+]|\d+\.)\s", text))
    return False
