"""The ``%realtime`` / ``%%realtime`` magics.

Public name: :class:`RealtimeMagics`.

A magic that cannot do its part (a bad channel name, a server that cannot be reached)
prints why on stderr, in one line, and lets the cell go on: the cell of ``%%realtime``
always runs (with an unknown command too), as if the magic were not there. Successes
(``published to ...``) go to stdout: a notebook shows stderr as an error. A line magic with
an unknown command is a ``UsageError``: there is nothing to run without it.
"""

from __future__ import annotations

import ast
import html
import sys
import time
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from ..errors import RealtimeError
from ..protocol import validate_channel

__all__ = ["RealtimeMagics"]


class _Skip(Exception):
    """The magic cannot do its part; the message was printed."""


@magics_class
class RealtimeMagics(Magics):
    def __init__(self, shell: Any, mirror: Any) -> None:
        super().__init__(shell)
        self.mirror = mirror

    @line_cell_magic
    def realtime(self, line: str, cell: str | None = None) -> Any:
        """Realtime channels in this kernel: mirror output, watch it, publish, list channels.

        %%realtime mirror CHANNEL
            Run the cell and mirror its output to CHANNEL, live: stdout/stderr (in lines,
            rate-limited), displays and their updates, clear_output, the result, errors.
            The cell shows what it always shows.
        %realtime mirror CHANNEL
            Mirror the rest of this cell and every following cell to CHANNEL ...
        %realtime mirror off
            ... until switched off.
        %realtime mirror
            Where output is mirrored, and how many publications were sent or failed.
        %realtime watch CHANNEL [LIMIT]
            A live view of the output mirrored to CHANNEL (by this kernel or any other),
            starting with what its history holds (the last LIMIT publications, at most
            1000) and following it live.
        %%realtime publish CHANNEL
            Run the cell and publish its result (JSON-able data, or bytes) to CHANNEL.
        %realtime channels
            The server's channels: subscribers, last offset, age of the last publication.

        Channel names are 1-200 characters of A-Z a-z 0-9 _ - . : @. A bad name or an
        unreachable server is reported on stderr (one line) and the cell still runs; so does
        a cell magic with an unknown command. A line magic's unknown command is a
        UsageError. A "#" starts a comment, as in Python. What the magics report goes to
        stderr, successes to stdout. The message
        format of mirrored output and progress is described in the project's docs/kernel.md.
        """
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        line = line.partition("#")[0]  # a comment may follow; names hold no "#"
        command, rest = [*line.split(None, 1), "", ""][:2]
        rest = rest.strip()  # the channel name (anything after the command, spaces included)
        try:
            if cell is not None:
                return self._cell(command, rest, cell)
            if command == "mirror":
                return self._mirror(rest)
            if command == "watch" and rest:
                name, limit = [*rest.rsplit(None, 1), ""][:2]
                if not limit.isdigit():  # no LIMIT: all of it is the name
                    name, limit = rest, "1000"
                return self._watch(name, int(limit))
            if command == "channels" and not rest:
                return self._channels()
        except _Skip:
            return None
        raise UsageError(f"unknown: %realtime {line!r}; see %realtime?")

    # -- cells --

    def _cell(self, command: str, name: str, cell: str) -> Any:
        """Run the cell, whatever the magic can do: a bad name, an unknown command or an
        unreachable server leave it running as if the magic were not there, with a warning."""
        __tracebackhide__ = True
        number = self.mirror.count()
        if command not in ("mirror", "publish") or not name:
            _error(
                f"%%realtime {command} {name}".rstrip() + ": expected %%realtime mirror CHANNEL "
                "or %%realtime publish CHANNEL; the cell runs without it"
            )
            return run_body(self.shell, cell, number)
        if command == "mirror":
            try:
                self._start(name)
                self.mirror.follow(self.mirror.parent_id(), name, cell)
            except _Skip:
                pass
            return run_body(self.shell, cell, number)
        try:
            _check_name(name, "nothing will be published; the cell runs as usual")
        except _Skip:
            return run_body(self.shell, cell, number)
        value = run_body(self.shell, cell, number)
        if value is None:
            _error(f"nothing published to {name!r}: the cell has no result (end it with a value)")
            return None
        try:
            channel = self._channel(name, "publish to")
            position = channel.publish(value)
            print(f"published to {name!r} at offset {position.offset}")  # stdout: not an error
        except _Skip:
            pass
        except RealtimeError as exc:
            _error(f"cannot publish the result to {name!r}: {exc}")
        return value

    # -- line commands --

    def _mirror(self, name: str) -> None:
        mirror = self.mirror
        if not name:
            where = repr(mirror.every) if mirror.every else "off"
            sent, failed = mirror.published, mirror.failed
            print(f"mirroring: {where}; {sent} publications sent, {failed} failed")
            if mirror.last_error is not None:
                print(f"last error: {mirror.last_error}")
            return
        if name == "off":
            cell = mirror.parent_id()
            mirror.every = None
            mirror.end(cell)
            mirror.cells.pop(cell, None)
            return
        self._start(name)
        mirror.every = name
        cell = mirror.parent_id()
        if cell:  # the rest of this cell too (none when loaded by configuration)
            hist = getattr(self.shell, "history_manager", None)
            code = hist.input_hist_raw[-1] if hist is not None and hist.input_hist_raw else ""
            mirror.follow(cell, name, code)

    def _watch(self, name: str, limit: int) -> None:
        from ._watch import Watch

        channel = self._channel(name, "watch")
        try:
            view = Watch(channel, min(max(limit, 1), 1000))
        except RealtimeError as exc:
            _error(f"cannot watch {name!r}: {exc}")
            raise _Skip from None
        display(view.widget)

    def _channels(self) -> None:
        from ..client import default_client

        try:
            client = default_client()
            rows = client.channels()
            now = time.time()
            for row in rows:
                row["age"] = _age(client, row, now)
        except RealtimeError as exc:
            _error(f"cannot list channels: {exc}")
            raise _Skip from None
        head = ("channel", "subscribers", "last offset", "age")
        table = [(r["channel"], str(r["subscribers"]), str(r["offset"]), r["age"]) for r in rows]
        widths = [max(len(x) for x in col) for col in zip(head, *table, strict=False)]
        text = "\n".join("  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True))
                         for row in (head, *table))  # fmt: skip
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>" for row in table
        )
        ths = "".join(f"<th>{h}</th>" for h in head)
        markup = f"<table><thead><tr>{ths}</tr></thead><tbody>{cells}</tbody></table>"
        display({"text/plain": text, "text/html": markup}, raw=True)

    # -- helpers --

    def _channel(self, name: str, what: str) -> Any:
        """The blocking channel ``name``, or :class:`_Skip` after printing why not."""
        from ..client import channel

        _check_name(name, f"cannot {what} it")
        try:
            return channel(name)
        except RealtimeError as exc:
            _error(f"cannot {what} {name!r}: {exc}")
            raise _Skip from None

    def _start(self, name: str) -> None:
        _check_name(name, "no mirroring to it; the cell runs as usual")
        try:
            self.mirror.channel(name)
            self.mirror.start()
        except (RealtimeError, RuntimeError) as exc:
            _error(f"cannot mirror to {name!r}: {exc}; the cell runs as usual")
            raise _Skip from None


def _check_name(name: str, consequence: str) -> None:
    """Print why ``name`` is no channel name, and what follows, and raise :class:`_Skip`."""
    try:
        validate_channel(name)
    except RealtimeError as exc:
        _error(f"{exc.message}; {consequence}")
        raise _Skip from None


def _age(client: Any, row: dict[str, Any], now: float) -> str:
    ts = row.get("ts")
    if ts is None and row.get("offset"):
        try:
            last = client.channel(row["channel"]).history(limit=1)
            ts = last[-1].ts if last else None
        except RealtimeError:
            ts = None
    if not ts:
        return "-"
    seconds = max(0.0, now - float(ts))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _error(text: str) -> None:
    print(f"jupyter_realtime: {text}", file=sys.stderr)


def run_body(shell: Any, cell: str, number: int) -> Any:
    """Run a cell magic's body as IPython would: the value of its last expression is returned
    (and so displayed as the cell's result); an exception propagates (the cell fails), its
    traceback naming the lines of the cell (``In [number]``) and none of this module's."""
    __tracebackhide__ = True
    source = shell.transform_cell(cell)
    filename = shell.compile.cache(source, number, raw_code=cell)
    tree = shell.transform_ast(shell.compile.ast_parse(source, filename=filename))
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    namespace = shell.user_ns
    exec(shell.compile(tree, filename, "exec"), namespace)  # noqa: S102
    if last is None:
        return None
    expression = ast.Expression(last.value)
    return eval(shell.compile(expression, filename, "eval"), namespace)  # noqa: S307
