"""Mirrored messages: their shape, size limits, and how a batch of output is coalesced.

Public names: :class:`Limits`, :class:`Batcher`, :func:`limit_bundle`, :func:`cut_text`.

The message format is the contract that watchers (``%realtime watch``, the watch page, the
terminal watcher) are built against; ``docs/kernel.md`` is its reference. Everything here is
pure logic, without a kernel or a connection: the mirror feeds a :class:`Batcher` the events
its hooks saw, once per tick, and publishes what comes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["VERSION", "Batcher", "Event", "Limits", "cut_text", "limit_bundle"]

#: the version of the mirrored message format, carried by ``cell_start``
VERSION = 1

#: an event seen by a hook: (kind, channel, cell, payload); kinds are message types
Event = tuple[str, str, str, dict[str, Any]]

DISPLAYS = ("display_data", "execute_result")  # outputs that a clear removes (with streams)


@dataclass
class Limits:
    """How much one tick may publish. Defaults as in ``docs/kernel.md``."""

    stream_chars: int = 32_768  # text of one stream per tick; more is cut in the middle
    outputs: int = 40  # display_data/execute_result per channel per tick; more wait their turn
    backlog: int = 1000  # messages waiting their turn; beyond, the oldest displays are dropped
    bundle_bytes: int = 512 * 1024  # one MIME bundle; larger entries are replaced by a marker


def size_text(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError


def limit_bundle(data: dict[str, Any], limit: int) -> tuple[dict[str, Any], dict[str, int]]:
    """``data`` cut to ``limit`` bytes: the largest entries go first, named in ``text/plain``.

    Returns the bundle and ``{mime: size}`` of what was removed (empty when it fits).
    """
    sizes = {
        mime: len(value) if isinstance(value, str) else len(orjson.dumps(value))
        for mime, value in data.items()
    }
    if sum(sizes.values()) <= limit:
        return data, {}
    kept, removed = dict(data), {}
    for mime in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if sum(sizes[m] for m in kept) <= limit:
            break
        if mime == "text/plain" and len(kept) == 1:
            kept[mime] = cut_text(str(kept[mime]), limit)[0]
            break
        del kept[mime]
        removed[mime] = sizes[mime]
    notes = ", ".join(f"{mime} ({size_text(n)})" for mime, n in removed.items())
    marker = f"[not mirrored: {notes}; larger than the {size_text(limit)} limit]"
    plain = kept.get("text/plain")
    kept["text/plain"] = f"{plain}\n{marker}" if isinstance(plain, str) and plain else marker
    return kept, removed


def cut_text(text: str, limit: int) -> tuple[str, dict[str, int] | None]:
    """``text`` within ``limit`` characters: its head and its tail (always its last line),
    with a marker line between them saying how much was left out."""
    if len(text) <= limit:
        return text, None
    head_end = text.rfind("\n", 0, limit // 4) + 1
    tail_start = text.find("\n", len(text) - (limit - head_end), len(text) - 1) + 1
    if tail_start <= head_end:  # one long last line: keep its end
        tail_start = len(text) - (limit - head_end)
    skipped = text[head_end:tail_start]
    lines = skipped.count("\n")
    marker = f"[... {lines} lines ({len(skipped)} characters) not mirrored ...]\n"
    return text[:head_end] + marker + text[tail_start:], {"lines": lines, "chars": len(skipped)}


class Batcher:
    """Turns the events of one tick into messages to publish, in order, per channel.

    Streams are coalesced: consecutive text of one stream in one cell becomes one message,
    holding back an unfinished last line for at most one tick (even while it keeps growing), and
    cut with :func:`cut_text` beyond ``limits.stream_chars``. An ``update_display_data``
    replaced by a later one for the same display in the tick is dropped, as are outputs removed
    by a ``clear_output`` in the tick. Over ``limits.outputs`` displays per channel and tick,
    the rest of that channel's messages wait for the next tick, in order; when more than
    ``limits.backlog`` wait, the oldest waiting displays are dropped, with a marker. Nothing
    else is ever dropped.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        # unfinished last lines: (channel, cell, name) -> [text, ticks held]
        self._partial: dict[tuple[str, str, str], list[Any]] = {}
        self._backlog: list[tuple[str, dict[str, Any]]] = []  # ready, waiting their turn

    def tick(self, events: list[Event]) -> list[tuple[str, dict[str, Any]]]:
        """The messages for one tick's ``events``, as ``(channel, message)`` in order.

        Linear in the number of events: what a clear or an update replaces is found through
        indexes, not by scanning (a tight loop of ``clear_output(wait=True); print(i)`` brings
        thousands of events a tick).
        """
        ending = {cell for kind, _, cell, _ in events if kind == "cell_end"}
        out: list[tuple[str, dict[str, Any]] | None] = []
        open_streams: dict[tuple[str, str, str], int] = {}  # key -> index in out
        clearable: dict[tuple[str, str], list[int]] = {}  # (channel, cell) -> indexes in out
        waiting_clear: set[tuple[str, str]] = set()  # a clear(wait=True) awaits an output
        updates: dict[tuple[str, Any], int] = {}  # (channel, display_id) -> index in out
        ages: dict[int, int] = {}  # id of a message that continues a held line -> its age
        for kind, channel, cell, payload in events:
            target = (channel, cell)
            if target in waiting_clear and kind in (*DISPLAYS, "stream"):
                waiting_clear.discard(target)
                self._clear(out, clearable, target)  # keeps the clear, for earlier ticks
            if kind == "stream":
                key = (channel, cell, payload["name"])
                index = open_streams.get(key)
                if index is not None:
                    out[index][1]["text"] += payload["text"]  # type: ignore[index]
                    continue
                held = self._partial.pop(key, None)
                text = (held[0] if held else "") + payload["text"]
                open_streams[key] = len(out)
                clearable.setdefault(target, []).append(len(out))
                msg = {"type": "stream", "cell": cell, **payload, "text": text}
                if held:
                    ages[id(msg)] = held[1]  # the line goes on: it keeps its age
                out.append((channel, msg))
                continue
            if kind == "cell_end":
                self._release(channel, cell, out)
            for key in [k for k in open_streams if k[0] == channel and k[1] == cell]:
                del open_streams[key]
            if kind == "clear_output":
                clearable.setdefault(target, []).append(len(out))
                if payload.get("wait"):
                    waiting_clear.add(target)
                else:
                    waiting_clear.discard(target)
                    self._clear(out, clearable, target)
            elif kind in DISPLAYS:
                clearable.setdefault(target, []).append(len(out))
            elif kind == "update_display_data":
                previous = updates.get((channel, payload.get("display_id")))
                if previous is not None:
                    out[previous] = None
                updates[(channel, payload.get("display_id"))] = len(out)
            out.append((channel, {"type": kind, "cell": cell, **payload}))
        messages = [m for m in out if m is not None]
        self._hold_partial(messages, ending, ages)
        self._age_partial(messages)
        for _, msg in messages:
            if msg["type"] == "stream":
                msg["text"], skipped = cut_text(msg["text"], self.limits.stream_chars)
                if skipped:
                    msg["skipped"] = skipped
        return self._pace([*self._backlog, *(m for m in messages if m[1].get("text") != "")])

    @property
    def waiting(self) -> int:
        """Messages held back: by the rate of displays, or unfinished lines (either goes out
        on a later tick even if nothing else comes, so the caller ticks while this is not 0)."""
        return len(self._backlog) + len(self._partial)

    # -- helpers --

    def _clear(
        self, out: list[Any], clearable: dict[tuple[str, str], list[int]], target: tuple[str, str]
    ) -> None:
        """Drop what the cell's last clear removes from the tick: its outputs, its text and
        earlier clears; the clear itself stays (it clears what earlier ticks sent)."""
        *removed, last = clearable[target]  # the last is the clear that applies now
        for i in removed:
            out[i] = None
        clearable[target] = [last]
        for key in [k for k in self._partial if (k[0], k[1]) == target]:
            del self._partial[key]

    def _hold_partial(
        self, messages: list[tuple[str, dict[str, Any]]], ending: Any, ages: dict[int, int]
    ) -> None:
        """Keep the unfinished last line of each stream with nothing else after it in its cell.

        A line that was already held and only grew (no line end since: a ``\\r`` progress
        line that tqdm, Keras or pip rewrites in place) keeps its age, so it still goes out
        after one tick instead of waiting for a newline that may never come."""
        trailing: dict[tuple[str, str], list[int]] = {}
        for i, (channel, msg) in enumerate(messages):
            run = trailing.setdefault((channel, msg["cell"]), [])
            if msg["type"] != "stream":
                run.clear()
            else:
                run.append(i)
        for run in trailing.values():
            for i in run:
                channel, msg = messages[i]
                if msg["cell"] in ending or msg["text"].endswith("\n"):
                    continue
                cut = msg["text"].rfind("\n") + 1
                age = ages.get(id(msg), 0) if cut == 0 else 0
                self._partial[(channel, msg["cell"], msg["name"])] = [msg["text"][cut:], age]
                msg["text"] = msg["text"][:cut]

    def _release(self, channel: str, cell: str, out: list[Any]) -> None:
        for key in [k for k in self._partial if k[0] == channel and k[1] == cell]:
            text = self._partial.pop(key)[0]
            out.append((channel, {"type": "stream", "cell": cell, "name": key[2], "text": text}))

    def _age_partial(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """A line held for a whole tick without news goes out unfinished."""
        for key, held in list(self._partial.items()):
            if held[1] >= 1:
                del self._partial[key]
                messages.append((key[0], {"type": "stream", "cell": key[1], "name": key[2],
                                          "text": held[0]}))  # fmt: skip
            else:
                held[1] += 1

    def _pace(self, messages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        """At most ``limits.outputs`` displays per channel now; the rest waits, in order."""
        counts: dict[str, int] = {}
        now: list[tuple[str, dict[str, Any]]] = []
        self._backlog = []
        for channel, msg in messages:
            if msg["type"] in DISPLAYS:
                counts[channel] = counts.get(channel, 0) + 1
            if counts.get(channel, 0) > self.limits.outputs:
                self._backlog.append((channel, msg))
            else:
                now.append((channel, msg))
        excess = len(self._backlog) - self.limits.backlog
        if excess > 0:
            self._drop_oldest_displays(excess)
        return now

    def _drop_oldest_displays(self, excess: int) -> None:
        kept: list[tuple[str, dict[str, Any]]] = []
        dropped: dict[str, tuple[int, str]] = {}  # channel -> (count, cell of the first)
        for channel, msg in self._backlog:
            if excess > 0 and msg["type"] in DISPLAYS:
                count, cell = dropped.get(channel, (0, msg["cell"]))
                dropped[channel] = (count + 1, cell)
                excess -= 1
            else:
                kept.append((channel, msg))
        for channel, (count, cell) in dropped.items():
            text = f"[{count} outputs not mirrored: more than {self.limits.backlog} waiting]\n"
            kept.insert(
                0, (channel, {"type": "stream", "cell": cell, "name": "stderr", "text": text})
            )
        self._backlog = kept
