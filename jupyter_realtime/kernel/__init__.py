"""The IPython extension of jupyter-realtime: magics, output mirroring, progress.

Public names: :func:`load_ipython_extension`, :func:`unload_ipython_extension`,
:class:`progress` (imported lazily), :class:`RealtimeMirror` (configuration).

``%load_ext jupyter_realtime`` (or ``c.InteractiveShellApp.extensions = ["jupyter_realtime"]``
in an IPython profile, for every kernel) adds the ``%realtime`` magics; see
``docs/kernel.md``. This package uses the client only (``DESIGN.md``, layers).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RealtimeMirror", "load_ipython_extension", "progress", "unload_ipython_extension"]


def load_ipython_extension(shell: Any) -> None:
    """Register the magics; with ``c.RealtimeMirror.channel`` set, start mirroring."""
    from ..client import default_client
    from . import _state
    from ._magics import RealtimeMagics
    from ._mirror import Mirror
    from ._settings import RealtimeMirror

    if _state.mirror is not None:
        return
    settings = RealtimeMirror(parent=shell)
    shell.configurables.append(settings)  # so that `%config RealtimeMirror` finds it
    _state.mirror = mirror = Mirror(shell, settings, default_client)
    shell.register_magics(RealtimeMagics(shell, mirror))
    if settings.channel:
        shell.run_line_magic("realtime", f"mirror {settings.channel}")


def unload_ipython_extension(shell: Any) -> None:
    """Stop mirroring and remove the hooks (the magics stay registered, as IPython does)."""
    from . import _state

    mirror, _state.mirror = _state.mirror, None
    if mirror is not None:
        mirror.close()


def __getattr__(name: str) -> Any:
    if name == "progress":
        from ._progress import progress

        return progress
    if name == "RealtimeMirror":
        from ._settings import RealtimeMirror

        return RealtimeMirror
    raise AttributeError(name)
