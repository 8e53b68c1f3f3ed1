"""The kernel's one :class:`~._mirror.Mirror`, set by ``load_ipython_extension``.

Public name: ``mirror`` (None until the extension is loaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._mirror import Mirror

mirror: Mirror | None = None
