"""The settings of output mirroring, as IPython configuration.

Public name: :class:`RealtimeMirror`: ``c.RealtimeMirror.<name>`` in an IPython profile, or
``%config RealtimeMirror.<name> = value`` in a notebook (read on every tick of the mirror).
``docs/kernel.md`` lists them.
"""

from __future__ import annotations

from traitlets import Bool, Float, Int, Unicode
from traitlets.config import Configurable

__all__ = ["RealtimeMirror"]


class RealtimeMirror(Configurable):
    """Settings of ``%realtime mirror`` (``c.RealtimeMirror.<name>`` in IPython config)."""

    channel = Unicode(
        "", config=True, help="Mirror every cell to this channel from the kernel's start "
        "(as `%realtime mirror CHANNEL`). Default: '' (off)."
    )  # fmt: skip
    interval = Float(
        0.2, config=True, help="Seconds between two publications of one stream (the "
        "flusher's tick). Default: 0.2."
    )  # fmt: skip
    stream_chars = Int(
        32_768, config=True, help="Characters of one stream published per tick; more are "
        "cut in the middle, keeping the last line. Default: 32768."
    )  # fmt: skip
    max_outputs = Int(
        40, config=True, help="Displays published per channel per tick; the channel's "
        "next messages wait for the next tick. Default: 40."
    )  # fmt: skip
    max_waiting = Int(
        1000, config=True, help="Mirrored messages waiting for their turn behind the "
        "max_outputs limit; beyond, the oldest displays are dropped with a marker. Default: 1000."
    )  # fmt: skip
    max_bundle_bytes = Int(
        512 * 1024, config=True, help="Bytes of one MIME bundle; larger entries are "
        "replaced by a marker. Default: 524288 (512 KiB)."
    )  # fmt: skip
    include_code = Bool(
        True, config=True, help="Send each mirrored cell's source in its cell_start. Default: True."
    )
