"""HTML as terminal text: paragraphs as lines, tables as aligned columns.

Public name: :func:`html_to_text`.

The terminal watcher shows a display's ``text/html`` this way when the display has no useful
``text/plain`` (``IPython.display.HTML`` gives only ``<IPython.core.display.HTML object>``).
Built on the standard library's :class:`html.parser.HTMLParser`, which never raises on bad
markup: what arrives on a channel is data, so nothing is fetched, run or trusted; tags only
decide where lines break and which text goes into which table cell.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

#: elements whose start and end break the line
BLOCKS = frozenset(
    "address article aside blockquote caption dd details div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary ul".split()
)
SKIPPED = frozenset(("script", "style", "template", "head", "title"))
NUMBER = re.compile(r"[-+]?(\d[\d,_]*\.?\d*|\.\d+)([eE][-+]?\d+)?%?|[-+]?(inf|nan|NaN)")


class _Text(HTMLParser):
    """Collects the document as a list of blocks: lines of text, and tables (rows of cells)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str | list[list[str]]] = []
        self.line: list[str] = []  # words of the current line (outside tables)
        self.tables: list[list[list[str]]] = []  # open tables, innermost last
        self.cell: list[str] | None = None  # text of the open table cell
        self.skipping = 0
        self.pre = 0

    # -- the parser's callbacks --

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self.skipping += 1
        elif tag == "table":
            self._cell_end()
            self._newline()
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._cell_end()
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell_end()
            if not self.tables[-1]:
                self.tables[-1].append([])
            self.cell = []
        elif tag == "br":
            self._newline()
        elif tag in BLOCKS:
            if tag == "pre":
                self.pre += 1
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "table" and self.tables:
            self._cell_end()
            rows = [row for row in self.tables.pop() if row]
            if self.tables:  # a table in a cell: its rows as text of that cell
                self.cell = [" / ".join(" ".join(row) for row in rows)]
            elif rows:
                self.blocks.append(rows)
        elif tag in ("td", "th"):
            self._cell_end()
        elif tag in BLOCKS:
            self._newline()
            if tag == "pre" and self.pre:
                self.pre -= 1

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.cell is not None:
            self.cell.append(data)
        elif self.tables:
            return  # text between cells (whitespace of the markup)
        elif self.pre:
            *lines, last = data.split("\n")
            for text in lines:
                self.line.append(text)
                self._newline(keep_empty=True)
            self.line.append(last)
        else:
            self.line.append(data)

    # -- helpers --

    def _cell_end(self) -> None:
        if self.cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self.cell).split()))
        self.cell = None

    def _newline(self, keep_empty: bool = False) -> None:
        if self.tables:
            if self.cell is not None:
                self.cell.append(" ")
            return
        text = "".join(self.line)
        self.line = []
        text = text.rstrip() if self.pre else " ".join(text.split())
        if text or keep_empty:
            self.blocks.append(text)


def _table(rows: list[list[str]]) -> list[str]:
    """Rows as lines of columns two spaces apart; numbers right-aligned, as pandas does."""
    columns = max(len(row) for row in rows)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(columns)]
    numeric = [
        all(NUMBER.fullmatch(row[i]) for row in rows[1:] if row[i]) and len(rows) > 1
        for i in range(columns)
    ]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def html_to_text(markup: str) -> str:
    """``markup`` as plain text, without a trailing newline."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    while parser.tables:  # tables left open by bad markup still show
        parser.handle_endtag("table")
    parser._newline()
    lines: list[str] = []
    for block in parser.blocks:
        lines.extend(_table(block) if isinstance(block, list) else [block])
    return "\n".join(lines).strip("\n")
