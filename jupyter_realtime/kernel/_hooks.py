"""A hook on ipykernel's output paths, in every thread.

Public names: :class:`ThreadHooks`.

ipykernel passes each outgoing ``display_data``/``update_display_data``/``clear_output``
(``ZMQDisplayPublisher``), ``execute_result`` (``ZMQShellDisplayHook``) and ``stream``
(``OutStream``, flushed on the IOPub thread) message through the hooks registered with
``register_hook``, but keeps those hooks in thread-local lists: a hook registered in the main
thread never sees a ``display()`` in a thread that a cell started. So :class:`ThreadHooks`
gives every thread's list the hook, present and future threads alike: it swaps the object's
thread-local storage for a ``threading.local`` subclass whose per-thread initializer
registers the hook, sharing each thread's list with the original storage (hooks that others
registered stay in place). :meth:`ThreadHooks.remove` puts the original storage back and takes
the hook out of every list it entered. Where the storage is not found (another ipykernel),
the hook is registered with ``register_hook`` in the calling thread only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ThreadHooks"]

Hook = Callable[[dict[str, Any]], "dict[str, Any] | None"]

STORAGE = ("_thread_local", "_local")  # ZMQDisplayPublisher/ZMQShellDisplayHook, OutStream


class _EveryThread(threading.local):
    """Per-thread hook lists that start with ``hook`` (``__init__`` runs once per thread)."""

    def __init__(self, original: threading.local, hook: Hook, lists: list[list[Any]]) -> None:
        hooks = getattr(original, "hooks", None)
        if hooks is None:
            hooks = original.hooks = []
        if hook not in hooks:
            hooks.append(hook)
            lists.append(hooks)
        self.hooks = hooks


class ThreadHooks:
    """``hook`` on the given publishers (objects with ``register_hook``) in every thread."""

    def __init__(self, hook: Hook, targets: list[Any]) -> None:
        self.hook = hook
        self._lists: list[list[Any]] = []
        self._swapped: list[tuple[Any, str, threading.local]] = []
        self._registered: list[Any] = []
        for target in targets:
            if not hasattr(target, "register_hook"):
                continue
            name = next(
                (n for n in STORAGE if isinstance(getattr(target, n, None), threading.local)), None
            )
            if name is None:
                target.register_hook(hook)
                self._registered.append(target)
                continue
            original = getattr(target, name)
            setattr(target, name, _EveryThread(original, hook, self._lists))
            self._swapped.append((target, name, original))

    @property
    def active(self) -> bool:
        return bool(self._swapped or self._registered)

    def remove(self) -> None:
        for target, name, original in self._swapped:
            setattr(target, name, original)
        for hooks in self._lists:
            while self.hook in hooks:
                hooks.remove(self.hook)
        for target in self._registered:
            target.unregister_hook(self.hook)
        self._swapped, self._lists, self._registered = [], [], []
