"""The kernel's one :class:`~._mirror.Mirror`, set by ``load_ipython_extension``.

Public names: ``mirror`` (None until the extension is loaded), ``own_bars`` (model ids of
the widget bars that :class:`~._progress.progress` shows: their progress is mirrored as
``progress`` messages, so the mirror leaves out their displays, whose text would stay frozen
at the first state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._mirror import Mirror

mirror: Mirror | None = None
own_bars: set[str] = set()
