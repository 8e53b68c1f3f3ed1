"""Every use of a private internal of tqdm, each behind one function.

Public names: :func:`check`, :func:`set_elapsed`. Verified on tqdm 4.66 and 4.70.

``jupyter realtime watch`` draws the progress bars a kernel publishes with tqdm, whose rate
and ETA must come from the published elapsed time, not from when the terminal first saw
the bar. tqdm reads the elapsed time only from its own clock (``start_t``, read through
``tqdm._time``; the public ``format_dict`` reports it but cannot set it), so
:func:`set_elapsed` moves ``start_t``. tqdm is imported only by :func:`check`: the client
runs in kernels, which need not load it.
"""

from __future__ import annotations

from typing import Any

from .._compatcheck import Problem, Requirement, missing_store, run, uses

__all__ = ["check", "set_elapsed"]

TERMINAL = "jupyter_realtime.client._terminal"


def set_elapsed(bar: Any, elapsed: float) -> None:
    """Make ``bar`` show ``elapsed`` seconds since it started (its rate and ETA follow).
    Nothing changes where tqdm's clock is not found."""
    clock = getattr(bar, "_time", None)
    if callable(clock) and hasattr(bar, "start_t"):
        bar.start_t = clock() - elapsed


def _clock() -> str | None:
    from tqdm import tqdm

    return missing_store(tqdm, "__init__", "_time")


def _start() -> str | None:
    from tqdm import tqdm

    if (what := missing_store(tqdm, "__init__", "start_t")) is not None:
        return what
    if not uses(tqdm.format_dict, "start_t"):
        return "no longer gives format_dict its elapsed time"
    return None


REQUIREMENTS = [
    Requirement("tqdm", "tqdm._time", TERMINAL, _clock, fallback="rates start from the watch"),
    Requirement("tqdm", "tqdm.start_t", TERMINAL, _start, fallback="rates start from the watch"),
]


def check() -> list[Problem]:
    """A :class:`Problem` for each internal above that is missing or changed shape."""
    return run(REQUIREMENTS)
