"""Fan-out of the hub beside a bare Tornado broadcast, in one invocation.

``python benchmarks/fanout.py [--quick]``: deliveries per second and latency p50/p99 for
WebSocket and SSE fan-out at 100 and 1,000 subscribers, with Tornado's ``write_message``
broadcast run in the same invocation as the reference; the tables print each figure's
ratio to it. A thin preset of ``run.py``; further arguments are passed through.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import main  # noqa: E402

PRESET = [
    "--subscribers", "100,1000",
    "--targets", "tornado_write_message,jupyter_realtime_ws,jupyter_realtime_sse",
    "--baseline", "tornado_write_message",
]

if __name__ == "__main__":
    sys.exit(main(PRESET + sys.argv[1:]))
