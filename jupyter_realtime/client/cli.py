"""``jupyter realtime``: publish, subscribe, list channels and read history from a terminal.

Public name: :func:`main` (the ``jupyter-realtime`` console script, which ``jupyter``
runs for ``jupyter realtime``). Output is one JSON object per line. Exit codes: 0 ok,
1 the server refused (an error code of the protocol), 2 bad usage or data (checked before
connecting: channel names, limits, JSON data) or several running servers to choose from,
3 no server reachable (or no jupyter-realtime at the URL), 130 interrupted. Errors are one
line on stderr; so is the server taken when it was found among the running servers.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

import anyio
import orjson

from ..errors import RealtimeError
from ..protocol import validate_channel, validate_limit
from ._channel import AsyncChannel
from ._connection import AsyncClient
from ._errors import AmbiguousServer, GapError, NotRealtime, Unavailable

__all__ = ["main"]

EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 1, 2, 3, 130


class UsageError(Exception):
    pass


class _HelpAll(argparse.Action):
    """``--help-all``: every setting of the extension, as ``jupyter realtime config``."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        _print_settings()
        parser.exit()


def _print_settings() -> None:
    from ..settings_doc import settings_help  # imports the server: only for this command

    sys.stdout.write(settings_help())
    sys.stdout.flush()


def _connection_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """``--url``, ``--token``, ``--timeout``: on the main parser with their defaults, and on
    every subcommand with none (``SUPPRESS``), so that an option given after the subcommand
    wins and one given before it is not reset by the subcommand's default."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("connection")
    group.add_argument(
        "--url",
        default=default(None),
        help="the server, e.g. http://localhost:8888/ (with its base_url)",
    )
    group.add_argument("--token", default=default(None), help="the server's token")
    group.add_argument(
        "--timeout", type=float, default=default(30.0), help="seconds to wait for a reply"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jupyter realtime",
        description="Realtime channels of a Jupyter server. The server is found from --url/"
        "--token, else JUPYTER_REALTIME_URL/JUPYTER_REALTIME_TOKEN, else the running servers. "
        "The connection options go before or after the command.",
    )
    p.add_argument(
        "--help-all",
        action=_HelpAll,
        help="list every setting of the server and kernel extensions (as the config command)",
    )
    _connection_options(p, defaults=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help)
        _connection_options(cmd, defaults=False)
        return cmd

    pub = command("publish", "publish one message")
    pub.add_argument("channel")
    pub.add_argument("data", help="JSON data, or - to read it from stdin")
    pub.add_argument("--binary", action="store_true", help="publish the bytes as they are")

    s = command("subscribe", "print one JSON line per publication")
    s.add_argument("channel")
    s.add_argument("--since", type=int, metavar="OFFSET", help="replay after this offset first")
    s.add_argument("--count", type=int, metavar="N", help="exit after N publications")

    command("channels", "list channels: name, subscribers, last offset")

    h = command("history", "print recent publications, oldest first")
    h.add_argument("channel")
    h.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    h.add_argument("--since", type=int, metavar="OFFSET", help="the first after this offset")

    sub.add_parser(
        "config",
        help="list every setting of the server (RealtimeApp) and kernel (RealtimeMirror) "
        "extensions: help, units, default",
    )

    sub.add_parser(
        "serve",
        help="run JupyterHub's realtime service (as a managed service of the hub; "
        "docs/jupyterhub.md); Jupyter options such as --RealtimeApp.broker_url follow",
    )

    w = sub.add_parser("watch", help="show output mirrored to a channel: history, then live")
    w.add_argument("channel")
    w.add_argument("--limit", type=int, default=1000, help="history shown first (default 1000)")
    return p


def _line(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def _read_data(args: argparse.Namespace) -> Any:
    raw: bytes = sys.stdin.buffer.read() if args.data == "-" else args.data.encode()
    if args.binary:
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"data is not JSON ({exc}); use --binary for raw bytes") from None


def _check(args: argparse.Namespace) -> None:
    """Refuse bad usage before connecting, by the protocol's own rules, so that it exits 2
    whether or not a server answers (and says what is wrong, not what the server said)."""
    try:
        if getattr(args, "channel", None) is not None:
            validate_channel(args.channel)
        if args.command == "history" or (args.command == "watch" and args.limit != 0):
            validate_limit(args.limit)  # watch --limit 0: live only
    except RealtimeError as exc:
        raise UsageError(exc.message) from None
    for option in ("since", "count"):
        value = getattr(args, option, None)
        if value is not None and value < 0:
            raise UsageError(f"--{option} must be 0 or more, not {value}")
    if args.command == "publish":
        args.data = _read_data(args)  # stdin is read once, before the connection


async def _publish(channel: AsyncChannel, args: argparse.Namespace) -> None:
    position = await channel.publish(args.data)
    _line({"channel": channel.name, "epoch": position.epoch, "offset": position.offset})


async def _subscribe(channel: AsyncChannel, args: argparse.Namespace) -> None:
    seen = 0
    async with channel.subscribe(since=args.since) as subscription:
        while args.count is None or seen < args.count:
            try:
                msg = await subscription.__anext__()
            except GapError as exc:
                print(f"jupyter realtime: warning: {exc}", file=sys.stderr, flush=True)
                continue
            except StopAsyncIteration:
                return
            _line(msg.to_frame())
            seen += 1


async def _history(channel: AsyncChannel, args: argparse.Namespace) -> None:
    for msg in await channel.history(args.limit, since=args.since):
        _line(msg.to_frame())


async def _watch(channel: AsyncChannel, args: argparse.Namespace) -> None:
    from ._terminal import watch

    await watch(channel, args.limit)


async def _run(args: argparse.Namespace) -> None:
    async with AsyncClient(args.url, args.token, timeout=args.timeout) as client:
        endpoint = client.endpoint
        if endpoint is not None and endpoint.discovered:  # a guess: say which server it is
            root = endpoint.root_dir or "unknown"
            print(
                f"jupyter realtime: using {endpoint.url} (root dir {root}; {endpoint.source})",
                file=sys.stderr,
                flush=True,
            )
        if args.command == "channels":
            for info in await client.channels():
                _line(info)
            return
        command = {"publish": _publish, "subscribe": _subscribe, "history": _history,
                   "watch": _watch}  # fmt: skip
        await command[args.command](client.channel(args.channel), args)


async def _until_interrupted(args: argparse.Namespace) -> bool:
    """Run the command; True when Ctrl-C (SIGINT) stopped it.

    The CLI takes SIGINT itself rather than relying on the runner: anyio's runner turns it
    into ``KeyboardInterrupt`` on Python 3.11+, but on 3.10 (before anyio 4.5) into a bare
    ``CancelledError`` with a traceback, and Ctrl-C must exit 130 everywhere.
    """
    if sys.platform == "win32":  # no signal receivers there: KeyboardInterrupt as usual
        await _run(args)
        return False
    interrupted = False
    failed: Exception | None = None  # raised as is, not in an exception group
    async with anyio.create_task_group() as group:

        async def on_sigint() -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                async for _ in signals:
                    interrupted = True
                    group.cancel_scope.cancel()

        group.start_soon(on_sigint)
        try:
            await _run(args)
        except Exception as exc:
            failed = exc
        group.cancel_scope.cancel()
    if failed is not None:
        raise failed
    return interrupted


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from ..service import main as serve  # imports the server and JupyterHub

        return serve(argv[1:])
    args = parser().parse_args(argv)
    if args.command == "config":
        _print_settings()
        return 0
    try:
        _check(args)
        if anyio.run(_until_interrupted, args):
            return EXIT_INTERRUPTED
    except UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except AmbiguousServer as exc:
        return _fail(EXIT_USAGE, exc.message)
    except NotRealtime as exc:
        return _fail(EXIT_UNREACHABLE, exc.message)
    except Unavailable as exc:
        return _fail(EXIT_UNREACHABLE, f"{exc.code.value}: {exc.message}")
    except RealtimeError as exc:
        return _fail(EXIT_REFUSED, f"{exc.code.value}: {exc.message}")
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    return 0


def _fail(code: int, reason: str) -> int:
    print(f"jupyter realtime: error: {reason}".replace("\n", " "), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
