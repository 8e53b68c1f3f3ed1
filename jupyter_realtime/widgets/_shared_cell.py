"""``SharedCell``: a code editor whose text is shared, live, over a channel.

Public name: :class:`SharedCell`. Every view of ``SharedCell("team:etl")``, in any notebook
of any user, and every kernel that holds one, edit the same text: a Yjs document merged by
the CRDT (``docs/shared-cells.md``). The browser view edits it directly over the page's
realtime connection; this kernel holds its own copy (:class:`SharedDocument`).
"""

from __future__ import annotations

import ast
from typing import Any

from ipywidgets import Output, widget_serialization
from traitlets import Bunch, Instance, Unicode

from ._base import ChannelWidget
from ._edits import text_edits
from ._shared_doc import EditRefused, Read, SharedDocument

__all__ = ["EditRefused", "SharedCell"]


class SharedCell(ChannelWidget):
    """The shared text of ``channel`` in an editor, and in this kernel as :attr:`value`.

    ``language``: the editor's syntax (``python``, ``markdown``, ``sql``, ... or ``""``).
    ``client``: a :class:`~jupyter_realtime.client.Client` (default: the shared one).

    ``value`` is the merged text as it is now (also while a cell runs). Assigning it applies
    the difference between the text this object last returned from ``value`` (or held right
    after its last assignment) and the new text, to the text as it is now: what others typed
    or deleted since that read survives (``docs/shared-cells.md``, "Assigning value").
    An assignment waits for the server's answer (at most 10 s; not while offline, where the
    edit is merged on reconnection) and raises :class:`EditRefused` if the edit was refused
    (``rate_limited``, ``too_large``): the cell then holds the shared text without it, and
    :attr:`refused` says why.
    ``observe(handler, "value")`` sees local changes at once and remote ones through the
    kernel's event loop (between cells).
    There is no initial-value argument on purpose: two kernels seeding the same document
    would merge to the text twice.
    """

    _model_name = Unicode("SharedCellModel").tag(sync=True)
    _view_name = Unicode("SharedCellView").tag(sync=True)

    language = Unicode("python", help="The editor's language. Default: python.").tag(sync=True)
    height = Unicode("", help="Height of the editor (CSS); '' grows with the text.").tag(
        sync=True
    )
    output = Instance(Output, help="Where run() shows its output.").tag(
        sync=True, **widget_serialization
    )
    refused = Unicode(
        "", help="Why this kernel's last refused edit was refused ('' if none was); the cell "
        "was reloaded from the server's text without it."
    )
    def __init__(self, channel: str, *, language: str = "python", client: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(channel, language=language, output=Output(), **kwargs)
        if client is None:
            from ..client import default_client

            client = default_client()
        self._client = client
        self._document = SharedDocument(client._async, self.channel)
        client.call(self._document.start)
        self._read: Read = client.call(self._document.read)
        self._notified = self._read.text
        self._document.on_change.append(client.to_caller(self._changed))
        self._document.on_refused.append(client.to_caller(self._refused))

    @property
    def value(self) -> str:
        """The merged text now (read from the document, also while a cell runs)."""
        self._read = self._client.call(self._document.read)
        return self._read.text

    @value.setter
    def value(self, new: str) -> None:
        """Turn the text last read into ``new``, applied to the text as it is now."""
        base = self._read
        edits = text_edits(base.text, new)  # here, not on the client's event loop
        self._read, pending = self._client.call(self._document.write, new, edits, base.mark)
        self._changed(None)
        refusal = self._client.call(self._document.settle, pending)
        if refusal is not None:
            self._read = self._client.call(self._document.read)
            self._changed(None)
            self.refused = refusal
            raise EditRefused(f"the edit of {self.channel} was refused ({refusal}); the cell "
                              "holds the shared text without it")

    def _refused(self, reason: str) -> None:
        self.refused = reason

    @property
    def writable(self) -> bool:
        """Whether this user may edit the shared text (else the editors are read-only)."""
        return self._document.writable

    def _changed(self, _: Any) -> None:
        """Tell ``observe(handler, "value")`` handlers, once per text they have not seen."""
        old, new = self._notified, self._client.call(lambda: self._document.value)
        if new != old:
            self._notified = new
            self.notify_change(Bunch(name="value", old=old, new=new, owner=self, type="change"))

    def run(self) -> None:
        """Run the shared text in this kernel; its output (and the value of a last
        expression) appears in :attr:`output`, under the editor."""
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
        code = self.value
        self.output.clear_output()
        with self.output:
            try:
                name = f"<shared cell {self.channel}>"
                tree = ast.parse(code, name)
                last = tree.body[-1] if tree.body else None
                if isinstance(last, ast.Expr):
                    tree.body.pop()
                exec(compile(tree, name, "exec"), namespace)
                if isinstance(last, ast.Expr):
                    result = eval(compile(ast.Expression(last.value), name, "eval"), namespace)
                    if result is not None:
                        display(result)
            except Exception:
                if shell is None:
                    raise
                shell.showtraceback()

    def close(self) -> None:
        document = getattr(self, "_document", None)
        if document is not None:
            try:
                self._client.call(document.close)
            except Exception:
                pass
        super().close()
