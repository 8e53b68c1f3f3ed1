"""The compatibility checks: every private internal the package relies on is verified.

Each case removes one internal (or changes its shape) the way a new release of its
package could, and the check of the module that needs it must name it, with the installed
version of its package. A test also makes sure that every internal a ``_compat`` module
declares has a case here.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from jupyter_realtime.client import _compat as client_compat
from jupyter_realtime.kernel import _compat as kernel_compat
from jupyter_realtime.transports import _compat as transports_compat

MODULES = {"transports": transports_compat, "kernel": kernel_compat, "client": client_compat}


def _stub(*args: Any, **kwargs: Any) -> None:
    """A method that no longer assigns anything."""


def replaced(owner: str, name: str, value: Any) -> Callable[[pytest.MonkeyPatch], None]:
    """A breaker: ``owner.name`` (``owner`` a dotted path to a class) becomes ``value``."""

    def breaker(monkeypatch: pytest.MonkeyPatch) -> None:
        module, _, cls = owner.rpartition(".")
        monkeypatch.setattr(getattr(importlib.import_module(module), cls), name, value)

    return breaker


def removed(owner: str, name: str) -> Callable[[pytest.MonkeyPatch], None]:
    def breaker(monkeypatch: pytest.MonkeyPatch) -> None:
        module, _, cls = owner.rpartition(".")
        monkeypatch.delattr(getattr(importlib.import_module(module), cls), name)

    return breaker


def _frame_as_is(self: Any, chunk: bytes) -> bytes:
    return chunk  # as if tornado stopped framing chunks


def _write_frame_elsewhere(self: Any, fin: bool, opcode: int, data: bytes, flags: int = 0) -> Any:
    return self.transport.send(data)  # as if frames left through something else


async def _counts_after(self: Any, raw_cell: str, *args: Any, **kwargs: Any) -> None:
    self.events.trigger("pre_run_cell", None)
    self.execution_count += 1  # IPython 8's order


async def _counts_first(self: Any, raw_cell: str, *args: Any, **kwargs: Any) -> None:
    self.execution_count += 1  # IPython 9's order
    self.events.trigger("pre_run_cell", None)


def _count_order_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython
    from IPython.core.interactiveshell import InteractiveShell

    other = _counts_after if IPython.version_info[0] >= 9 else _counts_first
    monkeypatch.setattr(InteractiveShell, "run_cell_async", other)


def _count_order_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setattr(InteractiveShell, "run_cell_async", _stub)


NO_HOOKS = property(lambda self: [])
T = "tornado"

# (module, internal as the check names it, package, how it breaks)
CASES: list[tuple[str, str, str, Callable[[pytest.MonkeyPatch], None]]] = [
    ("transports", "IOStream.socket", T, replaced("tornado.iostream.IOStream", "__init__", _stub)),
    ("transports", "IOStream._write_buffer", T,
     replaced("tornado.iostream.BaseIOStream", "__init__", _stub)),
    ("transports", "IOStream._write_buffer", T,
     removed("tornado.iostream._StreamBuffer", "__len__")),
    ("transports", "WebSocketProtocol13.stream", T,
     replaced("tornado.websocket.WebSocketProtocol13", "_accept_connection", _stub)),
    ("transports", "WebSocketProtocol13._write_frame", T,
     replaced("tornado.websocket.WebSocketProtocol13", "_write_frame", _write_frame_elsewhere)),
    ("transports", "HTTP1Connection.stream", T,
     replaced("tornado.http1connection.HTTP1Connection", "__init__", _stub)),
    ("transports", "HTTP1Connection._format_chunk", T,
     replaced("tornado.http1connection.HTTP1Connection", "_format_chunk", _frame_as_is)),
    ("transports", "HTTP1Connection._format_chunk", T,
     replaced("tornado.http1connection.HTTP1Connection", "write_headers", _stub)),
    ("transports", "HTTP1Connection._request_headers", T,
     replaced("tornado.http1connection.HTTP1Connection", "__init__", _stub)),
    ("transports", "RequestHandler._headers", T,
     replaced("tornado.web.RequestHandler", "clear", _stub)),
    ("transports", "RequestHandler._new_cookie", T,
     replaced("tornado.web.RequestHandler", "set_cookie", _stub)),
    ("transports", "RequestHandler._current_user", T,
     replaced("tornado.web.RequestHandler", "current_user", property(lambda self: None))),
    ("transports", "HTTPServerRequest._cookies", T,
     replaced("tornado.httputil.HTTPServerRequest", "cookies", property(lambda self: {}))),
    ("transports", "RequestHandler._transforms", T,
     replaced("tornado.web.RequestHandler", "_execute", _stub)),
    ("transports", "RequestHandler._transforms", T,
     removed("tornado.web.GZipContentEncoding", "transform_first_chunk")),
    ("transports", "RequestHandler._finished", T,
     replaced("tornado.web.RequestHandler", "finish", _stub)),
    ("transports", "JupyterHandler._jupyter_current_user", "jupyter_server",
     replaced("jupyter_server.base.handlers.JupyterHandler", "prepare", _stub)),
    ("kernel", "ZMQDisplayPublisher._thread_local", "ipykernel",
     replaced("ipykernel.zmqshell.ZMQDisplayPublisher", "_hooks", NO_HOOKS)),
    ("kernel", "ZMQDisplayPublisher._thread_local", "ipykernel",
     removed("ipykernel.zmqshell.ZMQDisplayPublisher", "register_hook")),
    ("kernel", "ZMQShellDisplayHook._thread_local", "ipykernel",
     replaced("ipykernel.displayhook.ZMQShellDisplayHook", "_hooks", NO_HOOKS)),
    ("kernel", "OutStream._local", "ipykernel",
     replaced("ipykernel.iostream.OutStream", "_hooks", NO_HOOKS)),
    ("kernel", "OutStream._local", "ipykernel",
     replaced("ipykernel.iostream.OutStream", "register_hook", _stub)),
    ("kernel", "ZMQInteractiveShell._last_traceback", "ipykernel",
     replaced("ipykernel.zmqshell.ZMQInteractiveShell", "_showtraceback", _stub)),
    ("kernel", "InteractiveShell.run_cell_async (execution count order)", "ipython",
     _count_order_swapped),
    ("kernel", "InteractiveShell.run_cell_async (execution count order)", "ipython",
     _count_order_gone),
    ("client", "tqdm._time", "tqdm", replaced("tqdm.std.tqdm", "__init__", _stub)),
    ("client", "tqdm.start_t", "tqdm", replaced("tqdm.std.tqdm", "__init__", _stub)),
    ("client", "tqdm.start_t", "tqdm",
     replaced("tqdm.std.tqdm", "format_dict", property(lambda self: {}))),
]  # fmt: skip


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_checks_pass_on_the_installed_versions(name: str) -> None:
    assert [str(p) for p in MODULES[name].check()] == []


def test_every_declared_internal_has_a_case() -> None:
    declared = {(name, req.internal) for name, mod in MODULES.items() for req in mod.REQUIREMENTS}
    assert {(module, internal) for module, internal, _, _ in CASES} == declared


@pytest.mark.parametrize(
    ("module", "internal", "package", "breaker"),
    CASES,
    ids=[f"{internal}-{i}" for i, (_, internal, _, _) in enumerate(CASES)],
)
def test_the_check_names_an_internal_that_is_gone(
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    internal: str,
    package: str,
    breaker: Callable[[pytest.MonkeyPatch], None],
) -> None:
    if internal == "ZMQShellDisplayHook._thread_local":
        from ipykernel.displayhook import ZMQShellDisplayHook

        if not hasattr(ZMQShellDisplayHook, "register_hook"):
            pytest.skip("this ipykernel has no hooks on its display hook: nothing relies on it")
    breaker(monkeypatch)
    messages = [str(p) for p in MODULES[module].check()]
    version = importlib.metadata.version(package)
    named = [m for m in messages if m.startswith(f"{package} {version}: {internal} ")]
    assert named, messages
    assert f"jupyter_realtime.{module}" in named[0]  # and who needs it


def test_apply_check_logs_and_turns_off_what_cannot_work(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    replaced("tornado.http1connection.HTTP1Connection", "_format_chunk", _frame_as_is)(monkeypatch)
    replaced("tornado.iostream.IOStream", "__init__", _stub)(monkeypatch)
    with caplog.at_level(logging.WARNING, "jupyter_realtime.transports"):
        working = transports_compat.apply_check({"ws", "sse", "stream", "poll"})
    assert working == {"ws", "poll"}
    tornado = importlib.metadata.version("tornado")
    lines = {r.levelname: r.getMessage() for r in caplog.records}
    assert lines["ERROR"].startswith(f"tornado {tornado}: HTTP1Connection._format_chunk frames")
    assert lines["ERROR"].endswith("transport sse, stream turned off")
    assert lines["WARNING"].startswith(f"tornado {tornado}: IOStream.socket is missing")
    assert "slower" in lines["WARNING"]


async def _accept_connection(self: Any, handler: Any) -> None:
    """Tornado's own, called through a function that does not show it assigns ``stream``."""
    await ORIGINAL_ACCEPT(self, handler)


ORIGINAL_ACCEPT: Any = None  # set by the fixture below


@pytest.fixture
def ws_internal_hidden(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Before the server starts: the check cannot see WebSocketProtocol13.stream."""
    from tornado.websocket import WebSocketProtocol13

    global ORIGINAL_ACCEPT
    ORIGINAL_ACCEPT = WebSocketProtocol13._accept_connection
    monkeypatch.setattr(WebSocketProtocol13, "_accept_connection", _accept_connection)
    caplog.set_level(logging.WARNING, "jupyter_realtime.transports")


async def test_the_server_turns_off_a_transport_whose_internal_is_gone(
    ws_internal_hidden: None, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tornado = importlib.metadata.version("tornado")
    started = caplog.get_records("setup")  # the server started in the fixtures
    errors = [r.getMessage() for r in started if r.levelname == "ERROR"]
    assert errors == [
        f"tornado {tornado}: WebSocketProtocol13.stream is missing; "
        "jupyter_realtime.transports.websocket needs it: transport ws turned off"
    ]
    # the client is told to fall back, and the other transports work
    async with connect(server.ws("realtime/ws"), additional_headers=server.headers) as sock:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(sock.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4501
    async with httpx.AsyncClient(headers=server.headers) as http:
        poll = await http.get(server.http("realtime/poll") + "?channel=a")
    assert poll.status_code == 200 and "cursor" in poll.json()
