"""Every use of a private internal of ipykernel or IPython, each behind one function.

Public names: :func:`check`, :class:`EveryThread`, :func:`hook_storage`,
:func:`replace_hook_storage`, :func:`has_result_hooks`, :func:`last_traceback`,
:func:`running_count`. Verified on ipykernel 6.29 (IPython 8.39, Python 3.10) and
ipykernel 7.4 (IPython 9.19, Python 3.11).

Output mirroring (``_hooks``, ``_mirror``) needs three things ipykernel has no public API
for: the per-thread storage of the hook lists that ``register_hook`` fills (so a hook sees
output of every thread), the formatted traceback of the last error, and which execution
count the running cell has. The two ipykernel lines differ: 7.x has hooks on
``ZMQShellDisplayHook`` (``execute_result``), 6.29 has none, so there the mirror formats
the result from ``post_run_cell`` instead (:func:`has_result_hooks`). :func:`check`
verifies each internal is present with the shape relied on; :meth:`Mirror.start` logs
what it finds, and each function below falls back to what still works.
"""

from __future__ import annotations

import dis
import threading
from collections.abc import Callable
from typing import Any

from .._compatcheck import Problem, Requirement, missing_store, run, uses

__all__ = [
    "EveryThread",
    "check",
    "has_result_hooks",
    "hook_storage",
    "last_traceback",
    "replace_hook_storage",
    "running_count",
]

# where ZMQDisplayPublisher, ZMQShellDisplayHook (7.x) and OutStream keep their hook lists
STORAGE = ("_thread_local", "_local")
HOOKS = "hooks"  # the attribute of that storage holding the calling thread's list
HOOKS_MODULE = "jupyter_realtime.kernel._hooks"
MIRROR = "jupyter_realtime.kernel._mirror"


# -- hook storage --


def hook_storage(target: Any) -> threading.local | None:
    """The thread-local storage of ``target``'s hook lists, None where it is not found."""
    for name in STORAGE:
        storage = getattr(target, name, None)
        if isinstance(storage, threading.local):
            return storage
    return None


def replace_hook_storage(target: Any, storage: threading.local) -> threading.local:
    """Put ``storage`` in place of ``target``'s hook storage; the original is returned
    (and put back the same way). ``target`` must have one (see :func:`hook_storage`)."""
    for name in STORAGE:
        original = getattr(target, name, None)
        if isinstance(original, threading.local):
            setattr(target, name, storage)
            return original
    raise LookupError(f"{type(target).__name__} keeps no thread-local hook storage")


class EveryThread(threading.local):
    """Hook storage whose list, in every thread, starts with ``hook``.

    ``__init__`` runs once per thread (``threading.local``); it shares the thread's list
    with ``original`` (so hooks that others registered there stay in place) and records
    each list it added ``hook`` to in ``lists``, to take it out again.
    """

    def __init__(
        self, original: threading.local, hook: Callable[..., Any], lists: list[list[Any]]
    ) -> None:
        hooks = getattr(original, HOOKS, None)
        if hooks is None:
            hooks = []
            setattr(original, HOOKS, hooks)
        if hook not in hooks:
            hooks.append(hook)
            lists.append(hooks)
        setattr(self, HOOKS, hooks)


def has_result_hooks(displayhook: Any) -> bool:
    """Whether ``execute_result`` passes through hooks (ipykernel 7.x, not 6.29)."""
    return callable(getattr(displayhook, "register_hook", None))


# -- the shell --


def last_traceback(shell: Any) -> list[str] | None:
    """The formatted traceback ipykernel sends for the last error
    (``ZMQInteractiveShell._last_traceback``), None where it is not found."""
    stb = getattr(shell, "_last_traceback", None)
    return stb if isinstance(stb, list) else None


def running_count(shell: Any) -> int:
    """The running cell's execution count: IPython 9 counts a cell before running it
    (``pre_run_cell`` sees the next count), IPython 8 after."""
    import IPython

    return int(shell.execution_count) - (IPython.version_info[0] >= 9)


def _counts_first(func: Any) -> bool | None:
    """Whether ``func`` (``run_cell_async``) adds to ``self.execution_count`` before it
    triggers ``pre_run_cell``; None when either is not found."""
    increment = trigger = None
    code = list(dis.get_instructions(func))
    for i, ins in enumerate(code):
        if ins.opname == "STORE_ATTR" and ins.argval == "execution_count" and increment is None:
            adds = [c for c in code[max(0, i - 3) : i] if "ADD" in c.opname or "+=" in c.argrepr]
            if adds:
                increment = i
        if ins.opname == "LOAD_CONST" and ins.argval == "pre_run_cell" and trigger is None:
            trigger = i
    return None if increment is None or trigger is None else increment < trigger


def _count_order() -> str | None:
    import IPython
    from IPython.core.interactiveshell import InteractiveShell

    first = _counts_first(InteractiveShell.run_cell_async)
    if first is None:
        return "no longer counts the cell and triggers pre_run_cell where expected"
    expected = IPython.version_info[0] >= 9
    if first != expected:
        order = "before" if first else "after"
        return f"counts the cell {order} pre_run_cell, unlike IPython {IPython.version_info[0]}"
    return None


# -- the check --


def _hooks_in(module: str, cls: str, storage: str, optional: bool = False) -> Callable[[], Any]:
    """A probe: ``cls._hooks`` reads ``<storage>.hooks`` and ``register_hook`` fills it."""

    def probe() -> str | None:
        import importlib

        owner = getattr(importlib.import_module(module), cls)
        register = getattr(owner, "register_hook", None)
        if register is None and optional:
            return None  # ipykernel 6.29's display hook: the mirror takes the other path
        if not callable(register):
            return "is unused (register_hook is missing)"
        hooks = getattr(owner, "_hooks", None)
        if not isinstance(hooks, property) or not (uses(hooks, storage) and uses(hooks, HOOKS)):
            return f"no longer holds the hook lists ({cls}._hooks does not read {storage}.hooks)"
        if not uses(register, "_hooks"):
            return "no longer holds the hook lists (register_hook does not use _hooks)"
        traits = getattr(owner, "class_traits", None)
        if storage not in (traits() if traits else {}) and missing_store(
            owner, "__init__", storage
        ):
            return "is missing"
        return None

    return probe


def _last_traceback() -> str | None:
    from ipykernel.zmqshell import ZMQInteractiveShell

    return missing_store(ZMQInteractiveShell, "_showtraceback", "_last_traceback")


REQUIREMENTS = [
    Requirement(
        "ipykernel", "ZMQDisplayPublisher._thread_local", HOOKS_MODULE,
        _hooks_in("ipykernel.zmqshell", "ZMQDisplayPublisher", "_thread_local"),
        fallback="display output of other threads is not mirrored",
    ),
    Requirement(
        "ipykernel", "ZMQShellDisplayHook._thread_local", HOOKS_MODULE,
        _hooks_in("ipykernel.displayhook", "ZMQShellDisplayHook", "_thread_local", True),
        fallback="results of other threads are not mirrored",
    ),
    Requirement(
        "ipykernel", "OutStream._local", HOOKS_MODULE,
        _hooks_in("ipykernel.iostream", "OutStream", "_local"),
        fallback="text printed by other threads is not mirrored",
    ),
    Requirement(
        "ipykernel", "ZMQInteractiveShell._last_traceback", MIRROR, _last_traceback,
        fallback="tracebacks are formatted by Python, not IPython",
    ),
    Requirement(
        "ipython", "InteractiveShell.run_cell_async (execution count order)", MIRROR,
        _count_order, fallback="mirrored cells may show a count one off",
    ),
]  # fmt: skip


def check() -> list[Problem]:
    """A :class:`Problem` for each internal above that is missing or changed shape."""
    return run(REQUIREMENTS)
