"""Plot burst runs: server CPU per delivery and deliveries/s against the number of
publishers sending at once and against subscribers.

``python benchmarks/plot_burst.py OUT.png RUN.json [RUN.json ...]``, with the JSON files
``run.py --window 0`` writes to ``benchmarks/results/``. Runs whose ``--publishers`` is
the largest seen give the curves against subscribers; runs at the most common subscriber
count give the curves against publishers.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def load(paths: list[str]) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        for r in data["results"]:
            # a run where not every subscriber connected and warmed up measured fewer
            if r["scenario"] == "burst" and r["connected"] == r["subscribers"] \
                    and not r["not_ready"]:
                out.append({**r, "publishers": data["args"].get("publishers", 1)})
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = load(argv[1:])
    most_p = max(r["publishers"] for r in runs)
    common_n = Counter(r["subscribers"] for r in runs).most_common(1)[0][0]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (xkey, keep, label) in enumerate((
        ("publishers", lambda r: r["subscribers"] == common_n,
         f"publishers sending at once ({common_n} subscribers)"),
        ("subscribers", lambda r: r["publishers"] == most_p,
         f"subscribers ({most_p} publishers at once)"),
    )):  # fmt: skip
        series: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for r in runs:
            if keep(r):
                series[r["target"]][r[xkey]].append(r)
        for target, points in sorted(series.items()):
            xs = sorted(points)
            for row, key in enumerate(("server_us_per_delivery", "deliveries_per_s")):
                ys = [statistics.median(r[key] for r in points[x]) for x in xs]
                axes[row][col].plot(xs, ys, marker="o", label=target)
        for row, ylabel in enumerate(("server CPU µs per delivery", "deliveries per second")):
            ax = axes[row][col]
            ax.set_xscale("log")
            ax.set_ylim(bottom=0)
            ax.grid(True, which="both", alpha=0.3)
            ax.set_ylabel(ylabel)
            ax.set_xlabel(label)
    axes[0][0].legend(fontsize="small")
    fig.suptitle("Bursts of 200 publications (~200-byte JSON), loopback, 2 shared cores")
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
