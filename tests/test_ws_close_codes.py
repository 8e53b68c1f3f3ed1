"""WebSocket refusals a browser can see: the upgrade is accepted, then closed with a code.

A browser's ``WebSocket`` cannot read the HTTP status of a refused upgrade (it sees 1006
for a 403, a 404 or a network failure alike), so the refusals a client must act on come
as close codes (``docs/protocol.md``, *Disconnects*): 4501 ``transport_disabled`` when the
server does not offer WebSocket (the client falls back), 4500 ``forbidden`` when Jupyter's
authorizer denies ``read`` on ``realtime`` (terminal). A request without credentials is
still refused before the upgrade.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_permissions import RealtimeAuthorizer, TokenUsers, auth
from websockets import InvalidStatus
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


@pytest.fixture
def jp_server_config(realtime_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_realtime": True},
            "identity_provider_class": TokenUsers,
            "authorizer_class": RealtimeAuthorizer,
        },
        "RealtimeApp": realtime_config,
    }


async def close_of(server: Any, user: str) -> tuple[int, str]:
    """Open ``realtime/ws`` as ``user`` and return the close code and reason it gets."""
    async with connect(server.ws("realtime/ws"), additional_headers=auth(user)) as sock:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(sock.recv(), 5)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


@pytest.mark.parametrize("realtime_config", [{"transports": ["sse", "poll"]}])
async def test_a_disabled_websocket_closes_with_transport_disabled(server: Any) -> None:
    assert await close_of(server, "alice") == (4501, "transport_disabled")
    # refused for good outranks disabled: the client must not try the other transports
    assert await close_of(server, "outsider") == (4500, "forbidden")


async def test_a_user_jupyter_refuses_gets_forbidden(server: Any) -> None:
    assert await close_of(server, "outsider") == (4500, "forbidden")
    async with connect(server.ws("realtime/ws"), additional_headers=auth("alice")) as sock:
        await sock.send('{"id": 1, "op": "ping"}')
        assert await asyncio.wait_for(sock.recv(), 5) == '{"id":1,"result":{}}'


async def test_no_credentials_is_still_refused_before_the_upgrade(server: Any) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(server.ws("realtime/ws")):
            pass
    assert info.value.response.status_code == 403
