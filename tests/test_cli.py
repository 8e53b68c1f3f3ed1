"""``jupyter realtime`` as a script runs it: a subprocess against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

JUPYTER = str(Path(sys.executable).with_name("jupyter"))


async def cli(
    server: Any, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> tuple[int, list[Any], str]:
    """Run ``jupyter realtime ARGS``: exit code, stdout as JSON lines, stderr."""
    base = {
        **os.environ,
        "JUPYTER_REALTIME_URL": server.http(),
        "JUPYTER_REALTIME_TOKEN": server.token,
    }
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        JUPYTER,
        "realtime",
        *args,
        stdin=pipe,
        stdout=pipe,
        stderr=pipe,
        env={**base, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    assert proc.returncode is not None
    return proc.returncode, [json.loads(line) for line in out.splitlines()], err.decode()


def test_the_console_script_is_installed() -> None:
    assert shutil.which("jupyter-realtime", path=str(Path(sys.executable).parent))


async def test_publish_from_argument_stdin_and_binary(server: Any) -> None:
    code, out, err = await cli(server, "publish", "cli-pub", '{"x": 1}')
    assert (code, err) == (0, "")
    assert out == [{"channel": "cli-pub", "epoch": out[0]["epoch"], "offset": 1}]
    code, out, _ = await cli(server, "publish", "cli-pub", "-", stdin=b'{"x": 3}\n')
    assert code == 0 and out[0]["offset"] == 2
    code, out, _ = await cli(server, "publish", "cli-pub", "-", "--binary", stdin=b"\x00\x01")
    assert code == 0 and out[0]["offset"] == 3
    code, out, _ = await cli(server, "history", "cli-pub", "--limit", "2")
    assert code == 0
    assert [(p["offset"], p.get("data"), p.get("data_b64")) for p in out] == [
        (2, {"x": 3}, None),
        (3, None, "AAE="),
    ]
    assert all(p["channel"] == "cli-pub" and p["sender"] for p in out)


async def test_subscribe_prints_a_line_per_publication(server: Any) -> None:
    for data in ("1", "2", "3"):
        assert (await cli(server, "publish", "cli-sub", data))[0] == 0
    # replay after offset 1, then live until 3 publications were printed
    task = asyncio.ensure_future(
        cli(server, "subscribe", "cli-sub", "--since", "1", "--count", "3")
    )
    await asyncio.sleep(1.5)
    assert (await cli(server, "publish", "cli-sub", '"live"'))[0] == 0
    code, out, err = await task
    assert (code, err) == (0, "")
    assert [(p["offset"], p["data"]) for p in out] == [(2, 2), (3, 3), (4, "live")]


async def test_channels_lists_name_subscribers_and_offset(server: Any) -> None:
    await cli(server, "publish", "cli-channels", "7")
    code, out, _ = await cli(server, "channels")
    assert code == 0
    (entry,) = [c for c in out if c["channel"] == "cli-channels"]
    assert entry == {
        "channel": "cli-channels",
        "subscribers": 0,
        "epoch": entry["epoch"],
        "offset": 1,
    }


async def test_global_url_and_token_options(server: Any) -> None:
    env = {"JUPYTER_REALTIME_URL": "", "JUPYTER_REALTIME_TOKEN": ""}
    args = ["--url", server.http(), "--token", server.token]
    code, out, _ = await cli(server, *args, "publish", "cli-opts", "1", env=env)
    assert code == 0 and out[0]["offset"] == 1
    code, out, err = await cli(
        server, "--url", server.http(), "--token", "bad", "history", "x", env=env
    )
    assert code == 1 and out == []
    assert err.startswith("jupyter realtime: error: forbidden: ") and err.count("\n") == 1
    assert "refused the token (403)" in err  # the extension itself answered 403


async def test_connection_options_after_the_command(server: Any) -> None:
    env = {"JUPYTER_REALTIME_URL": "", "JUPYTER_REALTIME_TOKEN": ""}
    opts = ["--url", server.http(), "--token", server.token]
    code, out, err = await cli(server, "publish", "cli-after", '{"x":1}', *opts, env=env)
    assert (code, err) == (0, "")
    assert out[0]["offset"] == 1
    code, out, _ = await cli(server, "history", "cli-after", *opts, "--limit", "5", env=env)
    assert code == 0 and [p["data"] for p in out] == [{"x": 1}]
    code, out, _ = await cli(server, "channels", *opts, "--timeout", "10", env=env)
    assert code == 0 and "cli-after" in {c["channel"] for c in out}


async def test_connection_options_split_around_the_command(server: Any) -> None:
    env = {"JUPYTER_REALTIME_URL": "", "JUPYTER_REALTIME_TOKEN": ""}
    # given before the command, the subcommand's own defaults must not reset them
    code, out, err = await cli(
        server, "--token", "bad", "publish", "cli-split", "1", "--url", server.http(), env=env
    )
    assert code == 1 and out == []
    assert err.startswith("jupyter realtime: error: forbidden: ")
    url, token = ["--url", server.http()], ["--token", server.token]
    code, out, err = await cli(server, *url, "publish", "cli-split", "2", *token, env=env)
    assert (code, err) == (0, "") and out[0]["offset"] == 1
    # the later value wins when an option is given on both sides
    bad = ["--token", "bad"]
    code, out, _ = await cli(server, *bad, *url, "history", "cli-split", *token, env=env)
    assert code == 0 and [p["data"] for p in out] == [2]


NOWHERE = ["--url", "http://127.0.0.1:9/"]  # nothing listens there


@pytest.mark.parametrize(
    ("args", "code", "reason"),
    [
        (["publish", "no/slash", "1"], 2, "error: bad channel name 'no/slash': 1 to 200 char"),
        ([*NOWHERE, "publish", "no/slash", "1"], 2, "bad channel name 'no/slash'"),
        ([*NOWHERE, "subscribe", "a b"], 2, "bad channel name 'a b'"),
        ([*NOWHERE, "history", "x" * 201], 2, "bad channel name"),
        ([*NOWHERE, "watch", "é"], 2, "bad channel name"),
        (["publish", "c", "not json"], 2, "data is not JSON"),
        ([*NOWHERE, "publish", "c", "not json"], 2, "data is not JSON"),
        (["history", "c", "--limit", "0"], 2, "error: limit must be an integer from 1 to"),
        ([*NOWHERE, "subscribe", "c", "--since", "-1"], 2, "--since must be 0 or more"),
        ([*NOWHERE, "watch", "c", "--limit", "5000"], 2, "limit must be an integer from 1 to"),
        (["--url", "http://127.0.0.1:9/", "publish", "c", "1"], 3, "unavailable: cannot connect"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
async def test_failures_exit_non_zero_with_one_line(
    server: Any, args: list[str], code: int, reason: str
) -> None:
    got, out, err = await cli(server, *args)
    assert got == code and out == []
    assert reason in err and err.strip().count("\n") <= (3 if "invalid choice" in reason else 0)


def test_config_lists_every_setting_with_its_help_units_and_default() -> None:
    """``jupyter server --help-all`` cannot list an extension's settings (it prints before
    loading extensions): ``jupyter realtime config`` and ``--help-all`` do."""
    outputs = []
    for args in (["config"], ["--help-all"]):
        proc = subprocess.run([JUPYTER, "realtime", *args], capture_output=True, timeout=60)
        assert (proc.returncode, proc.stderr) == (0, b"")
        outputs.append(proc.stdout.decode())
    text = outputs[0]
    assert outputs[1] == text
    assert "--RealtimeApp.broker_url=<Unicode>\n    Where channels are kept. '' (the default)" in text
    assert (
        "--RealtimeApp.max_message_size=<Int>\n"
        "    Bytes of data in one publication. Default: 1048576 (1 MiB).\n"
    ) in text
    assert "--RealtimeApp.max_publish_rate=" in text  # the access and limits mixins' traits
    assert "--RealtimeApp.retention=<Dict>\n    History kept per channel pattern" in text
    assert "--RealtimeMirror.interval=<Float>\n    Seconds between two publications" in text
    assert "--RealtimeApp.open_browser" not in text  # what every extension app inherits
    entries = text.split("\n--")[1:]
    assert len(entries) > 40 and all("Default: " in entry for entry in entries)
