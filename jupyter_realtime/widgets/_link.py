"""``ChannelLink``: one trait of any widget, shared live through a channel.

Public name: :class:`ChannelLink`.
"""

from __future__ import annotations

from typing import Any

from ipywidgets import Widget, widget_serialization
from traitlets import Instance, TraitError, Unicode

from ._base import MODULE_NAME, MODULE_VERSION, ChannelTraits

__all__ = ["ChannelLink"]


class ChannelLink(ChannelTraits, Widget):
    """Bind ``target.<trait>`` to ``channel`` in both directions, in the browser.

    ``ChannelLink(slider, "value", channel="knob")``: moving the slider in one page
    publishes ``{"value": V, "source": ID}`` to ``knob``; every other page (and any
    producer) that publishes there moves it. The link has no view: its browser model
    subscribes as soon as the page has the widgets of the kernel (the notebook is open),
    and applies the channel's latest value when it starts. It ignores its own publications,
    does not republish a value it applied, and skips values equal to the current one, so
    two linked pages never loop. The kernel learns of applied values like of any user edit.
    """

    _model_name = Unicode("ChannelLinkModel").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = Unicode(None, allow_none=True).tag(sync=True)
    _view_module = Unicode(None, allow_none=True).tag(sync=True)
    _view_module_version = Unicode("").tag(sync=True)

    target = Instance(Widget, help="The widget whose trait is linked.").tag(
        sync=True, **widget_serialization
    )
    trait = Unicode("value", help="The trait linked. Default: value.").tag(sync=True)

    def __init__(self, target: Widget, trait: str = "value", *, channel: str, **kwargs: Any):
        if not (target.has_trait(trait) and target.trait_metadata(trait, "sync")):
            raise TraitError(f"{type(target).__name__} has no synced trait {trait!r}")
        super().__init__(target=target, trait=trait, channel=channel, **kwargs)

    def unlink(self) -> None:
        """Stop linking (closes the link's browser models)."""
        self.close()
