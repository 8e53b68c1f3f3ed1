"""``ChannelLink``: one trait of any widget, shared live through a channel.

Public name: :class:`ChannelLink`.
"""

from __future__ import annotations

from typing import Any

from ipywidgets import Widget, widget_serialization
from traitlets import Instance, TraitError, Unicode

from ._base import ChannelWidget

__all__ = ["ChannelLink"]


class ChannelLink(ChannelWidget):
    """Bind ``target.<trait>`` to ``channel`` in both directions, in the browser.

    ``ChannelLink(slider, "value", channel="knob")``: moving the slider in one page
    publishes ``{"value": V, "source": ID}`` to ``knob``; every other page (and any
    producer) that publishes there moves it. The link's browser model subscribes as soon
    as the page has the widgets of the kernel (the notebook is open), displayed or not,
    and applies the channel's latest value when it starts. It ignores its own publications,
    does not republish a value it applied, and skips values equal to the current one, so
    two linked pages never loop. The kernel learns of applied values like of any user edit.

    Displayed (the last expression of a cell, or ``display(link)``), the link shows the
    linked widget, live, with the badge of its connection.
    """

    _model_name = Unicode("ChannelLinkModel").tag(sync=True)
    _view_name = Unicode("ChannelLinkView").tag(sync=True)

    target = Instance(Widget, help="The widget whose trait is linked.").tag(
        sync=True, **widget_serialization
    )
    trait = Unicode("value", help="The trait linked. Default: value.").tag(sync=True)

    def __init__(self, target: Widget, trait: str = "value", *, channel: str, **kwargs: Any):
        if not (target.has_trait(trait) and target.trait_metadata(trait, "sync")):
            raise TraitError(f"{type(target).__name__} has no synced trait {trait!r}")
        super().__init__(channel, target=target, trait=trait, **kwargs)

    def unlink(self) -> None:
        """Stop linking (closes the link's browser models)."""
        self.close()
