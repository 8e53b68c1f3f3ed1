"""``LiveValue``: the latest value of a channel, or of one key of its JSON objects.

Public name: :class:`LiveValue`.
"""

from __future__ import annotations

from traitlets import Bool, Unicode

from ._base import ChannelWidget

__all__ = ["LiveValue"]


class LiveValue(ChannelWidget):
    """The latest value published to ``channel``, updated live in the browser.

    ``LiveValue("prices", key="AAPL")`` shows the latest value of ``"AAPL"``: the data of
    the newest publication published with that key (``publish(data, key="AAPL")``, which
    the server keeps however many publications come after it), or ``data["AAPL"]`` of the
    newest unkeyed publication that has it (dotted keys such as ``"quote.bid"`` reach into
    nested objects); without ``key``, the whole data. A view opened later shows the latest
    value at once: the latest of its key, then the channel's newer history.
    ``show_latency=True`` also shows how long each publication took from
    the server to the page.
    """

    _model_name = Unicode("LiveValueModel").tag(sync=True)
    _view_name = Unicode("LiveValueView").tag(sync=True)

    key = Unicode(None, allow_none=True, help="The key of the data shown; None: all.").tag(
        sync=True
    )
    label = Unicode("", help="Shown before the value; default: the key or the channel.").tag(
        sync=True
    )
    show_latency = Bool(False, help="Show the delivery latency of each update.").tag(sync=True)
