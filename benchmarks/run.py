"""Fan-out benchmark driver: ``python benchmarks/run.py [--quick] [--subscribers 100,1000] ...``.

Starts each target server as a subprocess on a free 127.0.0.1 port (a fresh process for
every run, so memory per connection is measured from a clean start), runs the same
scenarios against each, interleaving repetitions (A B C A B C ...), and prints tables of
medians with ratios to a baseline taken within the same repetition. Raw results go to
``benchmarks/results/*.json``, the plot to ``benchmarks/results/fanout.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402
from benchmarks.launcher import Server, install_handlers, stop_all  # noqa: E402
from benchmarks.load import Scenario, run_scenario  # noqa: E402
from benchmarks.procstat import raise_nofile  # noqa: E402
from benchmarks.targets import ALL, Target  # noqa: E402

T = TypeVar("T")
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="fewer publications and repetitions (< 2 min)"
    )
    p.add_argument(
        "--subscribers", default="100,1000", help="comma-separated counts, e.g. 100,1000,10000"
    )
    p.add_argument(
        "--targets", default=",".join(ALL), help=f"comma-separated, of: {', '.join(ALL)}"
    )
    p.add_argument("--reps", type=int, help="repetitions of every run (default 5, quick 3)")
    p.add_argument(
        "--deliveries", type=int, help="deliveries per fan-out run (default 200000, quick 12000)"
    )
    p.add_argument(
        "--latency-rate", type=float, default=50.0, help="publications/s in the latency scenario"
    )
    p.add_argument(
        "--latency-seconds", type=float, help="length of the latency scenario (default 5, quick 1)"
    )
    p.add_argument("--latency-subscribers", type=int, default=100)
    p.add_argument(
        "--window", type=int, default=2,
        help="publications in flight in the fan-out scenario (default 2; 0: all at once, a burst)",
    )
    p.add_argument(
        "--publishers", type=int, default=1,
        help="publish connections in the fan-out scenario, publications spread over them",
    )
    p.add_argument(
        "--publications", type=int,
        help="publications per fan-out run (default: deliveries / subscribers, 10 to 2,000)",
    )
    p.add_argument(
        "--baseline", default="tornado_write_message", help="target the ratios compare to"
    )
    p.add_argument(
        "--reuse-servers",
        action=argparse.BooleanOptionalAction,
        help="one server process for all scenarios of a repetition (default: quick only);\n"
        "memory per connection is then measured for the first scenario only",
    )
    p.add_argument("--no-plot", action="store_true")
    args = p.parse_args(argv)
    quick = args.quick
    args.reps = args.reps if args.reps is not None else (3 if quick else 5)
    args.deliveries = (
        args.deliveries if args.deliveries is not None else (12_000 if quick else 200_000)
    )
    if args.latency_seconds is None:
        args.latency_seconds = 1.0 if quick else 5.0
    if args.reuse_servers is None:
        args.reuse_servers = quick
    return args


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    out = []
    for n in (int(x) for x in args.subscribers.split(",") if x.strip()):
        k = args.publications or max(10, min(2000, args.deliveries // n))
        name = "burst" if args.window == 0 else "fanout"
        out.append(
            Scenario(name, n, k, window=args.window or k, publishers=args.publishers)
        )
    if args.latency_seconds > 0 and args.latency_subscribers > 0:
        k = max(1, int(args.latency_rate * args.latency_seconds))
        out.append(Scenario("latency", args.latency_subscribers, k, rate=args.latency_rate))
    return out


def select_targets(names: str) -> list[Target]:
    chosen: list[Target] = []
    for name in (x.strip() for x in names.split(",") if x.strip()):
        if name not in ALL:
            sys.exit(f"unknown target {name!r}; known: {', '.join(ALL)}")
        reason = ALL[name].check()
        if reason:
            print(f"skipping {name}: {reason}", flush=True)
        else:
            chosen.append(ALL[name])
    return chosen


def client_runner() -> tuple[str, Callable[[Coroutine[Any, Any, T]], T]]:
    """The load client's event loop: uvloop when installed (cheaper per read), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return "asyncio", asyncio.run
    return "uvloop", uvloop.run


def run_target(target: Target, plan: list[Scenario], rep: int) -> list[dict[str, Any]]:
    """Every scenario of ``plan`` against one fresh server process."""
    _, runner = client_runner()
    out = []
    with Server(target, RESULTS / "logs") as server:
        for i, sc in enumerate(plan):
            metrics = runner(run_scenario(target, server.port, server.pid, sc))
            if i:  # freed connections of earlier scenarios make the RSS delta meaningless
                metrics["mem_kib_per_conn"] = float("nan")
            out.append({"target": target.name, "scenario": sc.name, "rep": rep, **metrics})
            print(_progress(out[-1]), flush=True)
    return out


def batches(plan: list[Scenario], reuse: bool) -> list[list[Scenario]]:
    """Scenarios grouped by server process: one each, or all on one (largest first)."""
    if not reuse:
        return [[sc] for sc in plan]
    return [sorted(plan, key=lambda sc: (sc.name == "latency", -sc.subscribers))]


def _progress(r: dict[str, Any]) -> str:
    s = (f"  {r['target']:<24} {r['scenario']:<7} n={r['subscribers']:<6} "
         f"{r['deliveries_per_s']:>10,.0f}/s  srv {r['server_us_per_delivery']:6.1f} µs  "
         f"p99 {r['p99_ms']:7.2f} ms  client {r['client_cpu_pct']:3.0f}%  "
         f"lost {r['lost']} dup {r['dup']} ooo {r['ooo']}")  # fmt: skip
    if r["dropped"]:
        s += f"  [{r['dropped']} subscribers dropped by the server]"
    if r["connect_errors"] or r["not_ready"]:
        s += f"  [connect errors {r['connect_errors']}, not ready {r['not_ready']}"
        s += f": {r['first_connect_error']}]"
    return s


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_handlers()
    raise_nofile()
    targets = select_targets(args.targets)
    if not targets:
        print("no target can run", file=sys.stderr)
        return 1
    plan = scenarios(args)
    print(f"load client event loop: {client_runner()[0]}", flush=True)
    results: list[dict[str, Any]] = []
    failures: dict[str, int] = {}
    started = time.monotonic()
    try:
        for rep in range(args.reps):
            print(f"repetition {rep + 1}/{args.reps}", flush=True)
            for batch in batches(plan, args.reuse_servers):
                for target in targets:
                    if failures.get(target.name, 0) >= 2:
                        continue
                    try:
                        results += run_target(target, batch, rep)
                    except Exception as exc:  # one target failing must not stop the others
                        failures[target.name] = failures.get(target.name, 0) + 1
                        print(f"  {target.name} failed: {exc!r}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: reporting what was measured", file=sys.stderr)
    finally:
        stop_all()
    print(report.table(results, args.baseline))
    print(f"\n{len(results)} runs in {time.monotonic() - started:.0f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"run-{stamp}.json").write_text(
        json.dumps({"args": vars(args), "results": results}, indent=1)
    )
    if not args.no_plot and (png := report.plot(results, RESULTS / "fanout.png")):
        print(f"plot: {png}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
