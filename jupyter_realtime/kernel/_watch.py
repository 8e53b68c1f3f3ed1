"""``%realtime watch``: a live view, in this notebook, of output mirrored to a channel.

Public names: :class:`Watch`, :data:`VIEWS`.

The view's outputs are rebuilt from the mirrored messages (``docs/kernel.md``): it starts
with the channel's history, so a run that happened while nobody watched is shown, then
follows the channel live from the last offset it read (no gap, no repeat). Updates arrive
in the kernel's event loop and are drawn at most every ``RENDER_INTERVAL`` seconds; an
ipywidgets ``Output`` needs no running cell to change, so the view stays live after its
cell ends. Progress messages become progress bars above it. Output of a cell whose
``cell_start`` the history no longer holds is shown under that cell's header read by its key
(``In [N]`` and its code) and one line saying its earlier output was dropped.

An ``Output`` widget has no "append": a change of its ``outputs`` sends all of them again,
so one ``Output`` for the whole view cost the full text on every update (2 MB per update
after 20,000 lines). The view is therefore a column of ``Output`` blocks of about
``BLOCK_CHARS`` characters each, cut at line ends (:mod:`._blocks`): new output only changes
the last block of its cell or adds new ones, and an update sends that block alone.

JupyterLab renders what an ``Output`` widget holds as trusted (scripts run), and anyone who
may publish to the channel chooses what arrives. So every message is first checked against
the format (:func:`~jupyter_realtime.mirror_format.parse_message`: one that fails is shown
as text) and every output is rebuilt through :mod:`jupyter_realtime.sanitize` before the view
keeps it: HTML and SVG sanitised, only safe MIME types, no metadata, an ``execution_count``
that is an int. The header and status lines escape what they show.
"""

from __future__ import annotations

import asyncio
import collections
import html
from typing import Any

from ..client._cells import DROPPED, CellStarts, cell_key
from ..errors import RealtimeError
from ..mirror_format import parse_message
from ..sanitize import as_count, safe_bundle, safe_output
from ._blocks import blocks, shown, write_stream

__all__ = ["VIEWS", "Watch"]

RENDER_INTERVAL = 0.25
MAX_CELLS = 50  # cells shown; older ones scroll away
VIEWS: list[Watch] = []  # live views (kept alive by this list)


class Watch:
    """A live view of ``channel`` (a blocking :class:`~jupyter_realtime.client.Channel`)."""

    def __init__(self, channel: Any, limit: int = 1000) -> None:
        import ipywidgets as w

        self.channel = channel
        self.status = w.HTML()
        self.bars_box = w.VBox()
        self.box = w.VBox()  # the Output blocks, cell by cell
        self.widget = w.VBox([self.status, self.bars_box, self.box])
        self._blocks: dict[tuple[str, int], tuple[Any, tuple[dict[str, Any], ...]]] = {}
        self._counts: dict[str, int] = {}  # cell -> its number of blocks
        self._dirty: set[str] = set()  # cells whose blocks may have changed
        self.cells: collections.OrderedDict[str, list[dict[str, Any]]] = collections.OrderedDict()
        self._clear_pending: set[str] = set()
        self._bars: dict[str, tuple[Any, Any]] = {}
        self._state = "waiting for output"
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: _Listener | None = None
        self.received = 0
        self.position: Any = None  # of the last publication shown
        self.starts = CellStarts()
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        # Subscribed first, then the history: what is published in between comes both ways
        # and is shown once (by its offset). The subscription may be shared with other
        # listeners of this client, so it cannot be given a `since` of its own.
        self._listener = _Listener(self, channel.client.to_caller)
        channel.listen(self._listener)
        try:
            for msg in channel.history(limit=limit):
                self.take(msg)
        except BaseException:
            self.close()
            raise
        self.render()
        VIEWS.append(self)

    def close(self) -> None:
        """Stop following the channel (the view keeps what it shows)."""
        if self._listener is not None:
            self.channel.unlisten(self._listener)
            self._listener = None
        if self in VIEWS:
            VIEWS.remove(self)

    # -- the model --

    def outputs(self) -> list[dict[str, Any]]:
        return [o for outputs in self.cells.values() for o in outputs]

    def text(self) -> str:
        """The view's plain text (what a terminal would show); for tests and logs."""
        parts = []
        for o in self.outputs():
            if o["output_type"] == "stream":
                parts.append(o["text"])
            elif o["output_type"] == "error":
                parts.append("\n".join(o["traceback"]) + "\n")
            else:
                parts.append(str(o.get("data", {}).get("text/plain", "")) + "\n")
        return "".join(parts)

    def take(self, msg: Any) -> bool:
        """Show a publication unless it is not newer than the last one shown."""
        last = self.position
        if last is not None and msg.epoch == last.epoch and msg.offset <= last.offset:
            return False
        self.position = msg.position
        cell = self.starts.missing(msg.data)
        if cell is not None:
            self.dropped(cell)
        self.apply(msg.data)
        return True

    def dropped(self, cell: str) -> None:
        """Start ``cell`` with its header as kept by key (``In [N]``, its code) and the line
        saying its earlier output was dropped."""
        try:
            header = self.channel.latest(cell_key(cell))
        except RealtimeError:  # the line is shown all the same, without the cell's name
            header = None
        data = header.data if header is not None else None
        label = "cell"
        outputs = []
        if isinstance(data, dict) and data.get("type") == "cell_start":
            count = data.get("execution_count")
            label = f"In [{count}]" if count is not None else "cell"
            code = data.get("code")
            if isinstance(code, str) and code:
                outputs.append(_code(code))
        self.cells.pop(cell, None)
        self.cells[cell] = [_header(label), *outputs, _header(DROPPED)]
        self._dirty.add(cell)

    def apply(self, data: Any) -> None:
        """Take one mirrored message into the view (anything else is shown as text)."""
        self.received += 1
        message = parse_message(data)
        if message is None:
            self._dirty.add("")
            self._stream("", "stdout", f"{data!r}\n")
            return
        msg: dict[str, Any] = dict(message)
        kind, cell = msg["type"], str(msg.get("cell", ""))
        self._dirty.add(cell)
        if kind == "cell_start":
            self.cells.pop(cell, None)
            count = as_count(msg.get("execution_count"))
            label = f"In [{count}]" if count is not None else "cell"
            self.cells[cell] = [_header(label)]
            while len(self.cells) > MAX_CELLS:
                self._dirty.add(self.cells.popitem(last=False)[0])
            self._state = f"{label} running"
        elif kind == "cell_end":
            count = as_count(msg.get("execution_count"))
            self._state = f"In [{count if count is not None else ' '}] "
            self._state += f"{msg.get('status', 'done')} in {msg.get('duration', 0):.1f} s"
        elif kind == "stream":
            self._stream(cell, msg.get("name", "stdout"), msg.get("text", ""))
        elif kind in ("display_data", "execute_result"):
            output = safe_output({**msg, "output_type": kind})
            if msg.get("display_id"):
                output["display_id"] = msg["display_id"]
            self._add(cell, output)
        elif kind == "update_display_data":
            for name, outputs in self.cells.items():
                for o in outputs:
                    if o.get("display_id") == msg.get("display_id") and not o.get("header"):
                        o["data"], o["metadata"] = safe_bundle(msg.get("data", {})), {}
                        self._dirty.add(name)
        elif kind == "clear_output":
            if msg.get("wait"):
                self._clear_pending.add(cell)
            else:
                self._clear(cell)
        elif kind == "error":
            self._add(cell, safe_output({**msg, "output_type": "error"}))
        elif kind == "progress":
            self._progress(msg)

    def _cell(self, cell: str) -> list[dict[str, Any]]:
        if cell not in self.cells:
            self.cells[cell] = []
        return self.cells[cell]

    def _clear(self, cell: str) -> None:
        self._clear_pending.discard(cell)
        outputs = self._cell(cell)
        outputs[:] = [o for o in outputs if o.get("header")]

    def _add(self, cell: str, output: dict[str, Any]) -> None:
        if cell in self._clear_pending:
            self._clear(cell)
        self._cell(cell).append(output)

    def _stream(self, cell: str, name: str, text: str) -> None:
        if cell in self._clear_pending:
            self._clear(cell)
        outputs = self._cell(cell)
        last = outputs[-1] if outputs else None
        if last is None or last["output_type"] != "stream" or last["name"] != name:
            last = {"output_type": "stream", "name": name, "text": ""}
            outputs.append(last)
        last["text"] = write_stream(last["text"], text)

    def _progress(self, data: dict[str, Any]) -> None:
        import ipywidgets as w

        bar, label = self._bars.get(str(data.get("bar")), (None, None))
        if bar is None:
            bar, label = w.FloatProgress(min=0.0), w.HTML()
            self._bars[str(data.get("bar"))] = (bar, label)
            self.bars_box.children = (*self.bars_box.children, w.HBox([bar, label]))
        total, n = data.get("total"), data.get("n", 0)
        bar.max = float(total or max(n, 1))
        bar.value = float(min(n, bar.max))
        bar.bar_style = "success" if data.get("done") and total and n >= total else ""
        rate, eta = data.get("rate"), data.get("eta")
        parts = [html.escape(str(data.get("desc") or "")), f"{n}/{total if total else '?'}"]
        if rate:
            parts.append(f"{rate:.3g} {html.escape(str(data.get('unit', 'it')))}/s")
        if eta is not None and not data.get("done"):
            parts.append(f"ETA {eta:.0f} s")
        label.value = " ".join(p for p in parts if p)

    # -- drawing (in the kernel's loop) --

    def changed(self) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        if self._loop is not None:
            self._loop.call_later(RENDER_INTERVAL, self.render)
        else:
            self.render()

    def render(self) -> None:
        """Draw what changed: the status, and the blocks whose outputs differ from what
        their ``Output`` holds (an unchanged block sends nothing)."""
        import ipywidgets as w

        self._scheduled = False
        name = html.escape(self.channel.name)
        self.status.value = f"<small>watching <b>{name}</b>: {html.escape(self._state)}</small>"
        dirty, self._dirty = self._dirty, set()
        for cell in dirty:
            contents = blocks(self.cells.get(cell, []))
            for i, content in enumerate(contents):
                old = self._blocks.get((cell, i))
                if old is None:
                    self._blocks[(cell, i)] = (w.Output(outputs=content), content)
                elif old[1] != content:
                    old[0].outputs = content
                    self._blocks[(cell, i)] = (old[0], content)
            for i in range(len(contents), self._counts.get(cell, 0)):  # cleared, or gone
                self._blocks.pop((cell, i))[0].close()
            self._counts[cell] = len(contents)
            if not contents:
                del self._counts[cell]
        counts = self._counts
        children = tuple(
            self._blocks[(cell, i)][0] for cell in self.cells for i in range(counts.get(cell, 0))
        )
        if children != self.box.children:
            self.box.children = children

    def shown(self) -> list[dict[str, Any]]:
        """The outputs the view shows, block after block (for tests and logs)."""
        return shown(self.box.children)


class _Listener:
    """Receives the channel in the client's loop and hands each message to the kernel's."""

    def __init__(self, view: Watch, to_caller: Any) -> None:
        self._message = to_caller(self._on_message)
        self._gap = to_caller(self._on_gap)
        self.view = view

    def _on_message(self, msg: Any) -> None:
        if self.view.take(msg):
            self.view.changed()

    def _on_gap(self, error: Any) -> None:
        self.view._state = f"some output was missed ({error})"
        self.view.changed()

    def message(self, msg: Any) -> None:
        self._message(msg)

    def gap(self, error: Any) -> None:
        self._gap(error)

    def end(self, error: BaseException | None) -> None:
        if error is not None:
            self._gap(error)


def _header(label: str) -> dict[str, Any]:
    """The line above a cell's outputs (``label`` is escaped: it is built from published
    fields, though only from an int today)."""
    return {
        "output_type": "display_data",
        "header": True,
        "data": {
            "text/plain": f"── {label} ──",
            "text/html": "<div style='color:#888;font-size:smaller'>"
            f"── {html.escape(label)} ──</div>",
        },
        "metadata": {},
    }


def _code(code: str) -> dict[str, Any]:
    """A cell's code under its header (kept, as the header is, when the cell is cleared)."""
    code = code.rstrip("\n")
    return {
        "output_type": "display_data",
        "header": True,
        "data": {
            "text/plain": code,
            "text/html": f"<pre style='color:#888;font-size:smaller'>{html.escape(code)}</pre>",
        },
        "metadata": {},
    }
