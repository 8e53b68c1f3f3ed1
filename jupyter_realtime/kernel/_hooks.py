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
registered stay in place; the storage is ipykernel's private internal, reached through
``_compat``). :meth:`ThreadHooks.remove` puts the original storage back and takes
the hook out of every list it entered. Where the storage is not found (another ipykernel),
the hook is registered with ``register_hook`` in the calling thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._compat import EveryThread, hook_storage, replace_hook_storage

__all__ = ["ThreadHooks"]

Hook = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class ThreadHooks:
    """``hook`` on the given publishers (objects with ``register_hook``) in every thread."""

    def __init__(self, hook: Hook, targets: list[Any]) -> None:
        self.hook = hook
        self._lists: list[list[Any]] = []
        self._swapped: list[tuple[Any, Any]] = []
        self._registered: list[Any] = []
        for target in targets:
            if not hasattr(target, "register_hook"):
                continue
            original = hook_storage(target)
            if original is None:
                target.register_hook(hook)
                self._registered.append(target)
                continue
            replace_hook_storage(target, EveryThread(original, hook, self._lists))
            self._swapped.append((target, original))

    @property
    def active(self) -> bool:
        return bool(self._swapped or self._registered)

    def remove(self) -> None:
        for target, original in self._swapped:
            replace_hook_storage(target, original)
        for hooks in self._lists:
            while self.hook in hooks:
                hooks.remove(self.hook)
        for target in self._registered:
            target.unregister_hook(self.hook)
        self._swapped, self._lists, self._registered = [], [], []
