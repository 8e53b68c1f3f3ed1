"""Bursts: many publications reaching every subscriber in the same event-loop turn.

``python benchmarks/burst.py [--reps N]``: 1,000 subscribers; 200 publications sent at
once by 100 publisher connections (two each, pipelined), so that a server receives them
together, as when many kernels or browser tabs publish at the same moment. Server CPU per
delivery for the hub over WebSocket and SSE beside the ``websockets`` library's
``broadcast()`` and bare Tornado (WebSocket and SSE) in the same run, with the ratios to
``websockets``; memory per idle connection on the same fresh servers. A thin preset of
``run.py``; further arguments are passed through (later ones win).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import main  # noqa: E402

PRESET = [
    "--subscribers", "1000",
    "--targets", "tornado_write_message,tornado_sse,websockets_broadcast,"
                 "jupyter_realtime_ws,jupyter_realtime_sse",
    "--baseline", "websockets_broadcast",
    "--window", "0",
    "--publications", "200",
    "--publishers", "100",
    "--latency-seconds", "0",
    "--reps", "3",
]  # fmt: skip

if __name__ == "__main__":
    sys.exit(main(PRESET + sys.argv[1:]))
