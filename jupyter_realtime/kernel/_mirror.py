"""Output mirroring: a kernel's cell output copied to channels, live, without touching it.

Public name: :class:`Mirror` (configured by ``_settings.RealtimeMirror``).

Hooks (``_hooks``) on ipykernel's stream, display and result paths see every output message
in every thread; a cell is mirrored when the execute request that the message answers (its
``parent_header``) is one the mirror follows. A hook only appends to a deque, so the cell
never waits: a daemon flusher thread publishes at most every ``interval`` seconds while
output comes (at once for output after a quiet tick, and when a cell ends); it coalesces what
came (``_format.Batcher``) and publishes it with ``publish_nowait``, whose idempotency keys
keep a reconnection from doubling anything; a ``cell_start`` goes with the key
``cell:<cell>``, so the channel keeps every cell's header beyond its history. IPython's
``pre_run_cell`` and ``post_run_cell`` events mark a cell's start and end, with its error if
it raised.
"""

from __future__ import annotations

import atexit
import collections
import logging
import sys
import threading
import time
import traceback
from typing import Any

from ..client._cells import cell_key
from ..errors import RealtimeError
from . import _state
from ._compat import check, has_result_hooks, last_traceback, running_count
from ._format import VERSION, Batcher, Event, Limits, limit_bundle
from ._hooks import ThreadHooks
from ._settings import RealtimeMirror

__all__ = ["Mirror"]

log = logging.getLogger("jupyter_realtime.kernel")

FOLLOWED = 200  # cells whose late output (threads that outlive them) is still mirrored
CODE_CHARS = 20_000
WIDGET = "application/vnd.jupyter.widget-view+json"
FLUSH_TIMEOUT = 3.0  # seconds close() waits for what was mirrored to reach the server


class Mirror:
    """Mirrors the cells it follows; one per kernel, made by ``load_ipython_extension``."""

    def __init__(self, shell: Any, settings: RealtimeMirror, client_factory: Any) -> None:
        self.shell = shell
        self.settings = settings
        self._client_factory = client_factory
        self.every: str | None = None  # the channel of `%realtime mirror CHANNEL`
        self.cells: collections.OrderedDict[str, tuple[str, ...]] = collections.OrderedDict()
        self.events: collections.deque[Event] = collections.deque()
        self.published = self.failed = 0
        self.last_error: BaseException | None = None
        self._channels: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._batcher = Batcher()
        self._wake = threading.Event()
        self._next_tick = 0.0  # (monotonic) before it, output waits for the flusher's timer
        self._stop = False
        self._thread: threading.Thread | None = None
        self._hooks: ThreadHooks | None = None

    # -- switching on and off --

    def channel(self, name: str) -> Any:
        """The client's channel ``name``; connects on first use (errors raise here)."""
        channel = self._channels.get(name)
        if channel is None or channel.client.state.value == "closed":  # a new client if it died
            channel = self._channels[name] = self._client_factory().channel(name)
        return channel

    def start(self) -> None:
        """Install the hooks and the flusher (once); raise if this is not an ipykernel."""
        if self._hooks is not None:
            return
        hooks = ThreadHooks(
            self._hook,
            [self.shell.display_pub, self.shell.displayhook, sys.stdout, sys.stderr],
        )
        if not hooks.active:
            raise RuntimeError("mirroring needs an IPython kernel (ipykernel) to hook into")
        for problem in check():  # each says what still works without the internal
            log.warning("%s", problem)
        self._hooks = hooks
        self._stop = False
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        self._thread = threading.Thread(target=self._run, name="jupyter-realtime-mirror")
        self._thread.daemon = True
        self._thread.start()
        atexit.register(self.close)  # a kernel shut down after a cell still sends its end

    def close(self) -> None:
        """Remove the hooks and events, publish what is pending, stop the flusher."""
        if self._hooks is None:
            return
        self._hooks.remove()
        self._hooks = None
        for name in ("pre_run_cell", "post_run_cell"):
            try:
                self.shell.events.unregister(name, getattr(self, name))
            except ValueError:
                pass
        atexit.unregister(self.close)
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        deadline = time.monotonic() + FLUSH_TIMEOUT  # for all channels together
        for channel in self._channels.values():
            try:
                channel.flush(timeout=max(0.0, deadline - time.monotonic()))
            except RealtimeError:
                pass

    def count(self) -> int:
        """The running cell's execution count (IPython 9 counts it before running it)."""
        return running_count(self.shell)

    def parent_id(self) -> str:
        """The msg_id of the execute request being run (what its outputs' parent is)."""
        header = getattr(self.shell.display_pub, "parent_header", None) or {}
        return str(header.get("msg_id", ""))

    def follow(self, cell: str, channel: str, code: str) -> None:
        """Mirror the cell ``cell`` (an execute request's msg_id) to ``channel`` from now on."""
        channels = self.cells.get(cell, ())
        if channel in channels:
            return
        self.cells[cell] = (*channels, channel)
        while len(self.cells) > FOLLOWED:
            self.cells.popitem(last=False)
        self._started.setdefault(cell, time.time())
        start: dict[str, Any] = {"v": VERSION, "execution_count": self.count()}
        if self.settings.include_code:
            start["code"] = code[:CODE_CHARS]
        start["time"] = self._started[cell]
        self.events.append(("cell_start", channel, cell, start))

    def end(self, cell: str, error: BaseException | None = None, count: int | None = None) -> None:
        """The cell is over: its error (if any) and its ``cell_end`` go out on the next tick."""
        channels = self.cells.get(cell)
        if not channels or cell not in self._started:
            return  # not followed, or already over
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # this cell's text reaches the hooks before its end
        payload: dict[str, Any] = {
            "status": "error" if error is not None else "ok",
            "execution_count": self.count() if count is None else count,
            "duration": round(time.time() - self._started.pop(cell), 6),
        }
        for channel in channels:
            if error is not None:
                self.events.append(("error", channel, cell, self._error(error)))
            self.events.append(("cell_end", channel, cell, payload))
        self._wake.set()

    # -- IPython events (main thread) --

    def pre_run_cell(self, info: Any) -> None:
        if self.every:
            self.follow(self.parent_id(), self.every, getattr(info, "raw_cell", "") or "")

    def post_run_cell(self, result: Any) -> None:
        # the cell stays followed: output of threads that outlive it is mirrored after its end
        error = result.error_before_exec or result.error_in_exec
        cell = self.parent_id()
        if result.result is not None and not has_result_hooks(self.shell.displayhook):
            self._result(cell, result)  # an ipykernel without hooks on its display hook
        self.end(cell, error, result.execution_count)

    def _result(self, cell: str, result: Any) -> None:
        data, metadata = self.shell.display_formatter.format(result.result)
        payload = {"data": data, "metadata": metadata, "execution_count": result.execution_count}
        for channel in self.cells.get(cell, ()):
            self.events.append(("execute_result", channel, cell, payload))

    def _error(self, error: BaseException) -> dict[str, Any]:
        stb = last_traceback(self.shell)
        if stb is None or str(error) not in "".join(map(str, stb[-1:])):
            stb = traceback.format_exception(type(error), error, error.__traceback__)
        return {"ename": type(error).__name__, "evalue": str(error), "traceback": list(stb)}

    # -- the hook (any thread: must be quick) --

    def _hook(self, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            channels = self.cells.get(msg["parent_header"].get("msg_id", ""))
            if channels:
                kind, content = msg["msg_type"], msg["content"]
                payload = _payload(kind, content)
                if payload is not None:
                    cell = msg["parent_header"]["msg_id"]
                    for channel in channels:
                        self.events.append((kind, channel, cell, payload))
                    if time.monotonic() >= self._next_tick:  # idle for a tick: go now
                        self._wake.set()
        except Exception:  # never break the kernel's output
            log.debug("mirror hook failed", exc_info=True)
        return msg

    # -- the flusher thread --

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.settings.interval)
            self._wake.clear()
            ticked = time.monotonic()
            try:
                if self.flush_once():  # the rate counts publishing ticks, not quiet ones
                    self._next_tick = ticked + self.settings.interval
            except Exception:
                log.exception("the output mirror failed to publish")
        self.flush_once()
        for _ in range(100):  # closing: what waits for its turn goes now
            if not self._batcher.waiting:
                break
            self.flush_once()

    def flush_once(self) -> bool:
        """Publish what came since the last tick; whether there was anything."""
        events: list[Event] = []
        while self.events:
            events.append(self.events.popleft())
        if not events and not self._batcher.waiting:
            return False
        settings = self.settings  # read each tick: `%config RealtimeMirror.<name>` applies at once
        self._batcher.limits = Limits(
            settings.stream_chars, settings.max_outputs, settings.max_bundle_bytes,
            settings.max_waiting,
        )  # fmt: skip
        for channel, msg in self._batcher.tick(events):
            if "data" in msg:
                msg["data"], cut = limit_bundle(msg["data"], self.settings.max_bundle_bytes)
                if cut:
                    msg["truncated"] = cut
            # a cell's header is kept by key beyond the channel's history, so a view whose
            # history no longer reaches the cell's start still names it and shows its code
            key = cell_key(msg["cell"]) if msg.get("type") == "cell_start" else None
            try:
                self.channel(channel).publish_nowait(msg, callback=self._settled, key=key)
                self.published += 1
            except RealtimeError as exc:  # reported by `%realtime mirror` (status)
                self.failed += 1
                self.last_error = exc
        return True

    def _settled(self, position: Any, error: BaseException | None) -> None:
        """A publication's answer (in the client's thread): the server's refusal counts."""
        if error is not None:
            self.failed += 1
            self.last_error = error


def _payload(kind: str, content: dict[str, Any]) -> dict[str, Any] | None:
    """The mirrored fields of an output message (see ``docs/kernel.md``)."""
    if kind == "stream":
        return {"name": content.get("name", "stdout"), "text": content.get("text", "")}
    if kind in ("display_data", "update_display_data"):
        transient = content.get("transient") or {}
        data = content.get("data", {})
        if WIDGET in data:  # a widget view cannot be shown without its kernel: its text can
            if data[WIDGET].get("model_id") in _state.own_bars:
                return None  # a progress() bar: mirrored as progress messages instead
            data = {k: v for k, v in data.items() if k != WIDGET}
        return {
            "data": data,
            "metadata": content.get("metadata", {}),
            "display_id": transient.get("display_id"),
        }
    if kind == "execute_result":
        return {
            "data": content.get("data", {}),
            "metadata": content.get("metadata", {}),
            "execution_count": content.get("execution_count"),
        }
    if kind == "clear_output":
        return {"wait": bool(content.get("wait", False))}
    return None
