"""``Chat``: a channel as a chat room, with its backlog, presence and an input.

Public name: :class:`Chat`.
"""

from __future__ import annotations

from typing import Any

from traitlets import Int, Unicode

from ._base import ChannelWidget

__all__ = ["Chat"]


class Chat(ChannelWidget):
    """A chat on ``channel``: the last ``backlog`` messages, who is here, and an input.

    Messages are ``{"text": ..., "name": ...}``. The author shown is always the sender the
    server stamped (``sender_name``: the Jupyter user's display name, or "alice's kernel
    (notebook.ipynb)"); ``name`` (optional) is only a label shown beside it, as in
    "teacher (alice)", so nobody can post as someone else. :meth:`send` posts from the kernel.
    """

    _model_name = Unicode("ChatModel").tag(sync=True)
    _view_name = Unicode("ChatView").tag(sync=True)

    name = Unicode(
        "", help="Label put in messages sent from this view, shown beside the verified author."
    ).tag(sync=True)
    backlog = Int(100, min=0, help="Messages of history shown. Default: 100.").tag(sync=True)
    height = Unicode("260px", help="Height of the message list (CSS). Default: 260px.").tag(
        sync=True
    )

    def send(self, text: str, name: str | None = None) -> None:
        """Post ``text`` to the chat from the kernel, labelled ``name`` (default: this
        chat's); the author shown is the kernel's verified name."""
        data: dict[str, Any] = {"text": text}
        if name or self.name:
            data["name"] = name or self.name
        self.publish(data)
