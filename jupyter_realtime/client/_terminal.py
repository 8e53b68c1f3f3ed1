"""``jupyter realtime watch CHANNEL``: output mirrored to a channel, in a terminal.

Public names: :class:`TerminalView`, :func:`watch`.

The messages are those of ``docs/kernel.md`` (version 1). What a terminal can show, it shows
as ``%realtime watch`` does: a header per cell, its text as it comes (stdout to stdout, stderr
to stderr, raw, so a ``\\r`` returns to the start of the line as in the cell), the text form
of displays and results (``text/plain``, else ``text/html`` as text with tables as aligned
columns, else ``[image/png, 27.1 KiB]`` for an image alone), tracebacks, and a
status line when the cell ends. Progress messages become tqdm bars on stderr, one per bar
id. A terminal cannot change what it printed: ``update_display_data`` and ``clear_output``
are not shown. Data that is not a mirrored message (or a message whose fields do not have
their types, :func:`~jupyter_realtime.mirror_format.parse_message`) is printed as a JSON line.

Whoever may publish to the channel chooses these bytes, and a terminal obeys escape sequences
(move the cursor, clear the screen, set the window title, write the clipboard, make links):
everything printed goes through :func:`~jupyter_realtime.sanitize.terminal_text`, which keeps
colours on a terminal and nothing else. HTML is only ever turned into text.

:func:`watch` prints the channel's history first, then follows it from the last offset read;
the client reconnects by itself after a drop and resubscribes from the last publication it
delivered, so nothing is printed twice and nothing is missed (a loss that the history can no
longer cover is reported on stderr). Output of a cell whose ``cell_start`` the history no
longer holds is preceded by that cell's header, fetched by its key (:mod:`._cells`), its
code, and the line ``[earlier output of this cell was dropped]``.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

import orjson

from ..errors import RealtimeError
from ..mirror_format import parse_message
from ..sanitize import as_count, terminal_text
from ._cells import DROPPED, CellStarts, cell_key
from ._channel import AsyncChannel
from ._compat import set_elapsed
from ._errors import GapError
from ._html_text import html_to_text

__all__ = ["TerminalView", "watch"]

PROGRESS_KEYS = "progress:"  # the key prefix of progress() bars' states

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"


#: the repr of an object without a text form of its own: ``<IPython.core.display.HTML object>``
DEFAULT_REPR = re.compile(r"<[\w.]+ object( at 0x[0-9a-fA-F]+)?>")


def plain_text(data: dict[str, Any]) -> str:
    """The text form of a MIME bundle: ``text/plain`` (a pandas table is already aligned
    there), else ``text/html`` as text (tables as columns), else a line naming what it holds.

    A ``text/plain`` that is only an object's default repr does not count: that is what
    ``IPython.display.HTML`` and many rich objects give.
    """
    text = data.get("text/plain")
    html = data.get("text/html")
    if isinstance(text, str) and not (isinstance(html, str) and DEFAULT_REPR.fullmatch(text)):
        return text
    if isinstance(html, str):
        return html_to_text(html)
    parts = [f"{mime}, {_size(len(v))}" if isinstance(v, str) else mime for mime, v in data.items()]
    return f"[{'; '.join(parts) or 'empty output'}]"


def _plain(value: Any) -> str:
    """A published field that tqdm prints: text without escape sequences."""
    return terminal_text(str(value), colour=False) if value is not None else ""


class TerminalView:
    """Prints mirrored messages to ``out`` and ``err``; progress bars go to ``err``."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.colour = self.out.isatty()
        self.bars: dict[str, Any] = {}  # bar id -> tqdm
        self.starts = CellStarts()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def write(self, text: str, stream: str = "stdout") -> None:
        if not text:
            return
        file = self.err if stream == "stderr" else self.out
        text = terminal_text(text, self.colour)
        if self.bars:  # above the bars, which are drawn again below
            from tqdm import tqdm

            tqdm.write(text, file=file, end="")
        else:
            file.write(text)
        file.flush()

    def gap(self, error: GapError) -> None:
        self.write(f"[some output was missed: {error}]\n", "stderr")

    def dropped(self, header: Any) -> None:
        """A cell met without its start: its header (``cell_start`` as kept by key, or None
        when the channel has none), its code, and the line saying its earlier output is gone."""
        if isinstance(header, dict) and header.get("type") == "cell_start":
            count = as_count(header.get("execution_count"))
            self.write(f"── In [{count if count is not None else ' '}] ──\n")
            code = header.get("code")
            if isinstance(code, str) and code:  # published text: no escape sequences of its own
                code = terminal_text(code, colour=False)
                self.write("".join(f"   {line}\n" for line in code.splitlines()))
        self.write(f"[{DROPPED}]\n", "stderr")

    def apply(self, data: Any) -> None:
        """Show one publication's data."""
        if parse_message(data) is None:
            shown = f"<{len(data)} bytes>" if isinstance(data, bytes) else orjson.dumps(data)
            self.write(f"{shown if isinstance(shown, str) else shown.decode()}\n")
            return
        kind = data["type"]
        if kind == "cell_start":
            count = as_count(data.get("execution_count"))
            self.write(f"── In [{count if count is not None else ' '}] ──\n")
        elif kind == "stream":
            self.write(str(data.get("text", "")), str(data.get("name", "stdout")))
        elif kind in ("display_data", "execute_result"):
            bundle = data.get("data")
            self.write(plain_text(bundle if isinstance(bundle, dict) else {}) + "\n")
        elif kind == "error":
            traceback = data.get("traceback") or [f"{data.get('ename')}: {data.get('evalue')}"]
            self.write("\n".join(map(str, traceback)) + "\n", "stderr")
        elif kind == "cell_end":
            duration = data.get("duration")
            took = f" in {duration:.1f} s" if isinstance(duration, (int, float)) else ""
            count = as_count(data.get("execution_count"))
            self.write(f"── In [{count}] {data.get('status', 'done')}{took} ──\n")
        elif kind == "progress":
            self.progress(data)

    def progress(self, data: dict[str, Any]) -> None:
        """Move (or open, or close) the tqdm bar of ``data["bar"]`` to the published state."""
        from tqdm import tqdm

        key = str(data.get("bar"))
        bar = self.bars.get(key)
        total = data.get("total")
        if bar is None:
            bar = tqdm(
                total=total, desc=_plain(data.get("desc")) or None,
                unit=_plain(data.get("unit")) or "it",
                unit_scale=bool(data.get("unit_scale")), file=self.err, smoothing=0,
                dynamic_ncols=True, mininterval=0, leave=True, delay=1e-9,  # drawn below
            )  # fmt: skip
            self.bars[key] = bar
        bar.total = total
        bar.n = data.get("n", 0)
        elapsed = data.get("elapsed")
        if isinstance(elapsed, (int, float)):  # tqdm's rate and ETA from the published time
            set_elapsed(bar, elapsed)
        if data.get("postfix"):
            bar.set_postfix_str(_plain(data["postfix"]), refresh=False)
        bar.refresh()
        if data.get("done"):
            bar.close()
            del self.bars[key]


async def watch(
    channel: AsyncChannel, limit: int = 1000, *, view: TerminalView | None = None
) -> None:
    """Print the last ``limit`` publications of ``channel``, then follow it until cancelled."""
    view = view or TerminalView()

    async def show(data: Any) -> None:
        cell = view.starts.missing(data)
        if cell is not None:
            try:
                header = await channel.latest(cell_key(cell))
            except RealtimeError:  # the line is shown all the same, without the header
                header = None
            view.dropped(header.data if header is not None else None)
        view.apply(data)

    try:
        history = await channel.history(limit) if limit > 0 else []
        if history:  # every bar's latest state is kept by key: those older than the history
            first = history[0].position
            try:
                bars = await channel.history(100, key_prefix=PROGRESS_KEYS)
            except RealtimeError:
                bars = []
            for bar in bars:
                if bar.epoch == first.epoch and bar.offset < first.offset:
                    if isinstance(bar.data, dict) and bar.data.get("type") == "progress":
                        view.apply(bar.data)
        for msg in history:
            await show(msg.data)
        # nothing read: from offset 0 of the current epoch, so that what was published
        # since the empty read is not missed (with limit 0: live only)
        since: Any = history[-1].position if history else (0 if limit > 0 else None)
        async with channel.subscribe(since=since) as subscription:
            while True:
                try:
                    msg = await subscription.__anext__()
                except GapError as exc:
                    view.gap(exc)
                    continue
                except StopAsyncIteration:
                    return
                await show(msg.data)
    finally:
        view.close()
