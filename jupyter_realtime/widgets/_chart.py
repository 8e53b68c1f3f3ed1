"""``LiveChart``: a streaming line chart of numeric fields of a channel's publications.

Public name: :class:`LiveChart`.
"""

from __future__ import annotations

from typing import Any

from traitlets import Int, List, Unicode

from ._base import ChannelWidget

__all__ = ["LiveChart"]


class LiveChart(ChannelWidget):
    """A uPlot line chart of ``y`` against ``x`` over the last ``window`` points.

    Each publication is a JSON object (or a list of them, one point each):
    ``LiveChart("train:metrics", x="step", y=["loss", "accuracy"])`` plots
    ``data["loss"]`` and ``data["accuracy"]`` against ``data["step"]``. Without ``x``, the
    x axis is the server's timestamp of each publication. An x below the previous one (a
    loop run again) starts the chart over. A view opened later starts with the channel's
    last ``window`` publications (at most 1000).
    """

    _model_name = Unicode("LiveChartModel").tag(sync=True)
    _view_name = Unicode("LiveChartView").tag(sync=True)

    x = Unicode(None, allow_none=True, help="Field of the x axis; None: the time.").tag(sync=True)
    y = List(Unicode(), help="Fields plotted, one line each.").tag(sync=True)
    window = Int(500, min=2, help="Points kept (the oldest drop off). Default: 500.").tag(sync=True)
    height = Int(240, min=40, help="Height in pixels. Default: 240.").tag(sync=True)
    title = Unicode("", help="Title above the chart.").tag(sync=True)

    def __init__(self, channel: str, **kwargs: Any) -> None:
        if isinstance(kwargs.get("y"), str):
            kwargs["y"] = [kwargs["y"]]
        super().__init__(channel, **kwargs)
