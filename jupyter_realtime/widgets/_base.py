"""What every channel widget shares: the module and version of its browser views, and
the ``channel`` and ``transports`` traits.

Public names: :data:`MODULE_NAME`, :data:`MODULE_VERSION`, :class:`ChannelTraits`,
:class:`ChannelWidget`.
The version is the lab extension's (``labextension/package.json``); a test checks it.
"""

from __future__ import annotations

from typing import Any

from ipywidgets import DOMWidget
from traitlets import HasTraits, List, TraitError, Unicode, validate

from ..errors import RealtimeError
from ..protocol import validate_channel

__all__ = ["MODULE_NAME", "MODULE_VERSION", "ChannelTraits", "ChannelWidget"]

MODULE_NAME = "jupyter-realtime"
MODULE_VERSION = "0.1.0"
TRANSPORTS = ("ws", "websocket", "sse", "stream", "poll")


def check_channel(name: str) -> str:
    """``name`` if it is a valid channel name, else :class:`~traitlets.TraitError`."""
    try:
        return validate_channel(name)
    except RealtimeError as exc:
        raise TraitError(exc.message) from None


def check_transports(value: list[str]) -> list[str]:
    unknown = [t for t in value if t not in TRANSPORTS]
    if unknown:
        raise TraitError(f"unknown transports {unknown}; expected some of {list(TRANSPORTS)}")
    return list(value)


class ChannelTraits(HasTraits):
    """The ``channel`` and ``transports`` traits, validated (a widget mixin).

    ``transports`` empty (the default) shares the page's one connection, which picks the
    best transport by itself; a list such as ``["sse"]`` gives the browser side a
    connection of its own limited to those transports (``ws``, ``sse``, ``stream``, ``poll``).
    """

    channel = Unicode(help="The channel.").tag(sync=True)
    transports = List(Unicode(), help="Transports allowed; empty: the page's shared one.").tag(
        sync=True
    )

    @validate("channel")
    def _valid_channel(self, proposal: Any) -> str:
        return check_channel(proposal["value"])

    @validate("transports")
    def _valid_transports(self, proposal: Any) -> list[str]:
        return check_transports(proposal["value"])


class ChannelWidget(ChannelTraits, DOMWidget):
    """A widget whose browser view subscribes to ``channel`` directly (not via the kernel)."""

    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    def __init__(self, channel: str, **kwargs: Any) -> None:
        super().__init__(channel=channel, **kwargs)

    def publish(self, data: Any) -> None:
        """Publish ``data`` to the widget's channel from the kernel (blocking until accepted)."""
        from ..client import channel

        channel(self.channel).publish(data)
