"""``LiveLog``: a scrolling feed of a channel's publications, newest first.

Public name: :class:`LiveLog`.
"""

from __future__ import annotations

from traitlets import Int, Unicode

from ._base import ChannelWidget

__all__ = ["LiveLog"]


class LiveLog(ChannelWidget):
    """The publications of ``channel``, newest first, at most ``max_items`` (default 200).

    A view opened later starts with the channel's last ``max_items`` publications (at most
    1000, the server's history limit per request). ``height`` is a CSS length.
    """

    _model_name = Unicode("LiveLogModel").tag(sync=True)
    _view_name = Unicode("LiveLogView").tag(sync=True)

    max_items = Int(200, min=0, help="Items kept in the view. Default: 200.").tag(sync=True)
    height = Unicode("240px", help="Height of the list (CSS). Default: 240px.").tag(sync=True)
