"""``progress``: a tqdm bar that also publishes its state to a channel.

Public name: :class:`progress`.

Built on ``tqdm.auto`` the way ``tqdm.contrib.telegram`` is: a subclass whose ``display``
also sends the bar's state elsewhere, throttled. In a notebook it is tqdm's widget bar, in a
terminal script tqdm's text bar; either way it publishes at most one update every
``publish_interval`` seconds (default 0.25) and, on ``close()``, the exact final state. The
message format is in ``docs/kernel.md`` (``"type": "progress"``). Each bar publishes with the
key ``progress:<bar id>``, so the channel keeps every bar's latest state beyond its history
and a viewer who opens late still shows each bar as it is.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

from tqdm.auto import tqdm as _tqdm

from ..errors import RealtimeError

__all__ = ["progress"]

FLUSH_TIMEOUT = 5.0  # seconds close() waits for the server to have the final state


class progress(_tqdm):  # type: ignore[misc]  # noqa: N801 (named as tqdm is)
    """``tqdm(iterable, **tqdm_kwargs)`` that publishes its state to ``channel``.

    ``channel``: a channel name; by default the channel the running cell is mirrored to
    (``%realtime mirror``), else nothing is published. ``publish_interval``: least seconds
    between two updates (the final state is always sent). When the server cannot be reached
    the bar still works, with a warning; a bad channel name raises ``BadRequest``.
    """

    def __init__(
        self,
        iterable: Any = None,
        *args: Any,
        channel: str | None = None,
        publish_interval: float = 0.25,
        **kwargs: Any,
    ) -> None:
        self._rt_targets = _targets(channel)
        self._rt_interval = publish_interval
        self._rt_last = 0.0
        self._rt_id = uuid.uuid4().hex[:12]
        self._rt_open = False
        super().__init__(iterable, *args, **kwargs)
        self._rt_open = True
        if not self._rt_last:  # tqdm's first display did not publish (no display, or disabled)
            self._rt_publish(done=False)

    @property
    def rt_key(self) -> str:
        """The publication key of this bar's states: its channel keeps the latest."""
        return f"progress:{self._rt_id}"

    def status_printer(self, *args: Any, **kwargs: Any) -> Any:
        """tqdm's bar; a widget bar's model id is noted before it is displayed, so the
        mirror leaves that display out (its progress is mirrored as messages)."""
        shown = _tqdm.status_printer(*args, **kwargs)
        model_id = getattr(shown, "model_id", None)
        if isinstance(model_id, str):
            from . import _state

            _state.own_bars.add(model_id)
            self._rt_bar = model_id
        return shown

    def display(self, *args: Any, **kwargs: Any) -> Any:
        shown = super().display(*args, **kwargs)
        if time.monotonic() - self._rt_last >= self._rt_interval:
            self._rt_publish(done=False)
        return shown

    def close(self) -> None:
        was_open = getattr(self, "_rt_open", False) and not self.disable
        super().close()  # sets disable
        from . import _state

        _state.own_bars.discard(getattr(self, "_rt_bar", ""))
        if was_open:
            self._rt_open = False
            self._rt_publish(done=True, closing=True)  # the exact final state ...
            for channel, _ in self._rt_targets:  # ... sent before a script can exit
                try:
                    channel.flush(timeout=FLUSH_TIMEOUT)
                except RealtimeError as exc:
                    _warn(
                        f"the final state of the bar may not have reached {channel.name!r}: {exc}"
                    )

    def _rt_publish(self, done: bool, closing: bool = False) -> None:
        if not self._rt_targets or (self.disable and not closing):
            return
        self._rt_last = time.monotonic()
        state = self.format_dict
        n, total, elapsed = state["n"], state["total"], state["elapsed"]
        rate = state.get("rate") or (n / elapsed if elapsed and n else None)
        message = {
            "type": "progress",
            "bar": self._rt_id,
            "desc": state.get("prefix") or "",
            "n": n,
            "total": total,
            "unit": state.get("unit", "it"),
            "unit_scale": state.get("unit_scale", False),
            "rate": rate,
            "elapsed": round(elapsed, 6),
            "eta": (total - n) / rate if rate and total else None,
            "postfix": state.get("postfix") or "",
            "done": done,
            "time": time.time(),
        }
        for channel, cell in self._rt_targets:
            try:
                channel.publish_nowait(
                    message if cell is None else {**message, "cell": cell}, key=self.rt_key
                )
            except RealtimeError as exc:
                _warn(f"progress not published to {channel.name!r}: {exc}")


def _targets(name: str | None) -> list[tuple[Any, str | None]]:
    """``(channel, cell)`` pairs to publish to: the named channel, else the cell's mirrors."""
    from . import _state

    if name is not None:
        from ..client import BadRequest, channel
        from ..protocol import validate_channel

        try:
            validate_channel(name)
        except RealtimeError as exc:
            raise BadRequest(f"bad channel name {name!r}: {exc.message}") from None
        try:
            return [(channel(name), None)]
        except RealtimeError as exc:
            _warn(f"progress not published to {name!r}: {exc}")
            return []
    mirror = _state.mirror
    if mirror is None:
        return []
    cell = mirror.parent_id()
    return [(mirror.channel(c), cell) for c in mirror.cells.get(cell, ())]


def _warn(text: str) -> None:
    print(f"jupyter_realtime: {text}", file=sys.stderr)
