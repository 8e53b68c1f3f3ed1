"""jupyter-realtime: realtime channels for Jupyter.

Kernels import this package, so it stays light: the server extension (``app``) and the
widgets are imported only when used. The public kernel API is ``channel(name)``,
``progress(iterable, channel=...)`` and the IPython extension (``%load_ext jupyter_realtime``,
``docs/kernel.md``).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "channel",
    "connect",
    "load_ipython_extension",
    "progress",
    "unload_ipython_extension",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import RealtimeApp

    return [{"module": "jupyter_realtime", "app": RealtimeApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-realtime"}]


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext jupyter_realtime``: the ``%realtime`` magics (``docs/kernel.md``)."""
    from .kernel import load_ipython_extension

    load_ipython_extension(shell)


def unload_ipython_extension(shell: Any) -> None:
    from .kernel import unload_ipython_extension

    unload_ipython_extension(shell)


def __getattr__(name: str) -> Any:
    # The client is imported lazily: ``import jupyter_realtime`` in a kernel stays cheap.
    if name in ("channel", "connect"):
        from . import client

        return getattr(client, name)
    if name == "progress":
        from .kernel._progress import progress

        return progress
    raise AttributeError(name)
