"""Medians, same-run ratios, the printed tables, and the PNG plot."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

Result = dict[
    str, Any
]  # one run: target, scenario, subscribers, rep, and load.run_scenario's metrics

_COLUMNS = [
    ("deliveries_per_s", "deliv/s", "{:,.0f}"),
    ("server_us_per_delivery", "srv µs/deliv", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("mem_kib_per_conn", "KiB/conn", "{:.1f}"),
    ("client_cpu_pct", "client CPU%", "{:.0f}"),
]


def _median(values: list[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


def _groups(results: list[Result]) -> dict[tuple[str, int], dict[str, list[Result]]]:
    """(scenario, subscribers) -> target -> runs, in first-seen order."""
    out: dict[tuple[str, int], dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        out[(r["scenario"], r["subscribers"])][r["target"]].append(r)
    return out


def _ratio(runs: list[Result], base_runs: list[Result], key: str, invert: bool) -> float:
    """Median over repetitions of target/baseline within the same repetition."""
    base = {r["rep"]: r[key] for r in base_runs}
    ratios = []
    for r in runs:
        b = base.get(r["rep"])
        if b and r[key]:
            ratios.append(b / r[key] if invert else r[key] / b)
    return _median(ratios)


def table(results: list[Result], baseline: str) -> str:
    """Tables of medians, one per scenario and subscriber count, with same-run ratios."""
    lines: list[str] = []
    for (scenario, n), by_target in _groups(results).items():
        reps = max(len(v) for v in by_target.values())
        lines.append(f"\n## {scenario}, {n} subscribers (median of {reps})")
        head = (
            ["target"] + [c[1] for c in _COLUMNS] + ["lost/dup/ooo", f"× {baseline} (deliv/s, CPU)"]
        )
        rows = [head]
        for target, runs in by_target.items():
            row = [target]
            medians = [(_median([r[key] for r in runs]), fmt) for key, _, fmt in _COLUMNS]
            row += ["-" if math.isnan(m) else fmt.format(m) for m, fmt in medians]
            row.append("/".join(str(sum(r[k] for r in runs)) for k in ("lost", "dup", "ooo")))
            base_runs = by_target.get(baseline, [])
            speed = _ratio(runs, base_runs, "deliveries_per_s", invert=False)
            cpu = _ratio(runs, base_runs, "server_us_per_delivery", invert=True)
            row.append("-" if math.isnan(speed) else f"{speed:.2f}×, {cpu:.2f}×")
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for i, row in enumerate(rows):
            cells = [row[0].ljust(widths[0])]
            cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            lines.append("| " + " | ".join(cells) + " |")
            if i == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def plot(results: list[Result], path: Path) -> Path | None:
    """Fan-out scenario: deliveries/s and server CPU per delivery against subscribers."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series: dict[str, dict[int, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r["scenario"] == "fanout":
            series[r["target"]][r["subscribers"]].append(r)
    if not series:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8), sharex=True)
    for target, points in series.items():
        xs = sorted(points)
        for ax, key in ((top, "deliveries_per_s"), (bottom, "server_us_per_delivery")):
            ax.plot(
                xs, [_median([r[key] for r in points[x]]) for x in xs], marker="o", label=target
            )
    top.set_ylabel("deliveries per second (median)")
    bottom.set_ylabel("server CPU µs per delivery (median)")
    bottom.set_xlabel("subscribers of one channel")
    top.set_title("Fan-out, ~200-byte JSON, loopback, 2 cores")
    for ax in (top, bottom):
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
    top.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
