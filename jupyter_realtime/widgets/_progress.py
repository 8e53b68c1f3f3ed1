"""``LiveProgress``: a live progress bar of the bars that ``progress()`` publishes.

Public name: :class:`LiveProgress`.

The view reads the ``progress`` messages of ``docs/kernel.md`` (version 1): a bar with
``n/total``, the rate and the time left, updated live; the final state once ``done``.
"""

from __future__ import annotations

from traitlets import Int, Unicode

from ._base import ChannelWidget

__all__ = ["LiveProgress"]


class LiveProgress(ChannelWidget):
    """The progress bars published to ``channel`` by ``progress(..., channel=...)``, live.

    Each bar (a ``bar`` id of the messages) gets a row: description, a bar, ``n/total``,
    rate and ETA while it runs, elapsed time and the final ``n`` once it is done. A view
    opened late shows the current state at once, from the channel's recent history (the
    last ``history`` publications are searched for progress messages, so a mirrored
    channel with other output works too). ``bar`` set to one id shows only that bar;
    ``max_bars`` rows are kept, the newest bars.
    """

    _model_name = Unicode("LiveProgressModel").tag(sync=True)
    _view_name = Unicode("LiveProgressView").tag(sync=True)

    bar = Unicode("", help="Show only the bar with this id; '' (default): every bar.").tag(
        sync=True
    )
    max_bars = Int(5, min=1, help="Rows kept, newest bars first to stay. Default: 5.").tag(
        sync=True
    )
    history = Int(
        200, min=1, max=1000, help="Publications read when the view opens. Default: 200."
    ).tag(sync=True)
