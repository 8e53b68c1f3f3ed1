"""The display name of a kernel, as publications and presence show it.

Public name: :func:`kernel_display_name`.

A kernel proves which kernel it is (:mod:`jupyter_realtime.kernel_tag`); the server then
names it after the user it runs for and the notebook it belongs to, which the server knows
from its own sessions API (``session_manager``): "alice's kernel (analysis.ipynb)". A kernel
without a session (started through ``/api/kernels`` alone) is named by the start of its id.
Nothing here comes from the client.
"""

from __future__ import annotations

import inspect
import logging
import posixpath
from typing import Any

__all__ = ["kernel_display_name"]

log = logging.getLogger("jupyter_realtime.transports")


async def kernel_display_name(session_manager: Any, user: str, kernel_id: str) -> str:
    """``"USER's kernel (NOTEBOOK)"``, NOTEBOOK being the file name of the kernel's
    session, else ``"USER's kernel (ID[:8])"``."""
    path = ""
    if session_manager is not None:
        try:
            sessions = session_manager.list_sessions()
            if inspect.isawaitable(sessions):
                sessions = await sessions
            for model in sessions:
                if (model.get("kernel") or {}).get("id") == kernel_id:
                    path = str(model.get("path") or model.get("name") or "")
                    break
        except Exception:  # a broken session store must not refuse the connection
            log.warning("cannot look up the session of kernel %s", kernel_id, exc_info=True)
    where = posixpath.basename(path.rstrip("/")) if path else kernel_id[:8]
    return f"{user}'s kernel ({where})"
