"""Live ipywidgets over realtime channels.

Each widget's browser view subscribes to its channel directly through the page's
realtime connection, not through the kernel: views keep updating while the kernel is
busy, and a view opened later shows what it missed (from the channel's history). The
views live in the lab extension (``labextension/src/widgets/``). See ``docs/widgets.md``.

Public names: :class:`LiveValue`, :class:`LiveLog`, :class:`LiveChart`, :class:`Chat`,
:class:`ChannelLink`, :class:`LiveProgress`, :class:`SharedCell` (and its
:class:`EditRefused`).
"""

from __future__ import annotations

from ._chart import LiveChart
from ._chat import Chat
from ._link import ChannelLink
from ._log import LiveLog
from ._progress import LiveProgress
from ._shared_cell import EditRefused, SharedCell
from ._value import LiveValue

__all__ = [
    "ChannelLink", "Chat", "EditRefused", "LiveChart", "LiveLog", "LiveProgress", "LiveValue",
    "SharedCell",
]
