"""``GET realtime/api/documents/{channel}`` on a real server: the state a late joiner loads,
tagged with its channel position, only the difference for a state vector, the read-only flag,
permissions and errors, and the channel limit."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text
from test_permissions import RealtimeAuthorizer, TokenUsers, auth

from jupyter_realtime.documents import update_message

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_realtime": True},
            "identity_provider_class": TokenUsers,
            "authorizer_class": RealtimeAuthorizer,
        },
        "IdentityProvider": {"token": "unused-shared-token"},
        "RealtimeApp": {
            "private_channels": {"secret:*": ["alice"]},
            "documents_save_delay": 0.2,
            "max_channels": 2,
        },
    }


def edits(doc: Doc) -> list[bytes]:
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    return updates


async def publish_all(
    http: httpx.AsyncClient, server: Any, channel: str, updates: list[bytes]
) -> None:
    for update in updates:
        reply = await http.post(
            server.http(f"realtime/api/channels/{channel}"),
            content=update_message(update),
            headers=OCTETS,
        )
        assert reply.status_code == 200, reply.text
    updates.clear()


def decode(body: dict[str, Any], doc: Doc | None = None) -> str:
    doc = doc if doc is not None else Doc()
    doc.apply_update(base64.b64decode(body["update_b64"]))
    return str(doc.get("source", type=Text))


async def test_late_joiner_gets_the_state_and_its_position(server: Any) -> None:
    url = server.http("realtime/api/documents/team:etl")
    writer: Doc = Doc()
    text = writer.get("source", type=Text)
    updates = edits(writer)
    async with httpx.AsyncClient(headers=auth("alice")) as http:
        for word in ("print(", "1", ")"):
            text += word
            await publish_all(http, server, "team:etl", updates)
        body = (await http.get(url)).json()
        assert decode(body) == "print(1)"
        assert body["offset"] == 3 and body["channel"] == "team:etl"
        assert body["writable"] is True
        assert body["user"]["user"] == "alice"
        # a client holding that state asks for what it lacks
        reader: Doc = Doc()
        decode(body, reader)
        text += "\n"
        await publish_all(http, server, "team:etl", updates)
        vector = base64.b64encode(reader.get_state()).decode()
        diff = (await http.get(url, params={"state_vector": vector})).json()
        assert len(diff["update_b64"]) < len(body["update_b64"])
        assert decode(diff, reader) == "print(1)\n"
        assert diff["offset"] == 4
        assert base64.b64decode(diff["state_vector_b64"]) == writer.get_state()


async def test_reader_gets_a_read_only_state_and_outsiders_nothing(server: Any) -> None:
    url = server.http("realtime/api/documents/shared")
    async with httpx.AsyncClient() as http:
        reader = await http.get(url, headers=auth("reader"))
        secret = server.http("realtime/api/documents/secret:x")
        bob_secret = await http.get(secret, headers=auth("bob"))
        outsider = await http.get(url, headers=auth("outsider"))
    assert reader.status_code == 200 and reader.json()["writable"] is False
    assert bob_secret.status_code == 403 and bob_secret.json()["error"]["code"] == "forbidden"
    assert outsider.status_code == 403


async def test_bad_input_gets_bad_request(server: Any) -> None:
    async with httpx.AsyncClient(headers=auth("alice")) as http:
        bad_name = await http.get(server.http("realtime/api/documents/no%20spaces"))
        bad_b64 = await http.get(
            server.http("realtime/api/documents/d"), params={"state_vector": "!!!"}
        )
        bad_vector = await http.get(
            server.http("realtime/api/documents/d"),
            params={"state_vector": base64.b64encode(b"\xff\xff\xff").decode()},
        )
    for reply in (bad_name, bad_b64, bad_vector):
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["code"] == "bad_request"


async def test_a_hostile_writers_crafted_updates_are_refused_and_the_text_holds(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Alice writes; bob (who may publish too) posts crafted updates at the same time: each is
    a 400 ``bad_request`` with one log line and no traceback, and alice's text is intact."""
    caplog.set_level(logging.INFO, logger="jupyter_realtime.documents")
    url = server.http("realtime/api/documents/team:crafted")
    writer: Doc = Doc()
    text = writer.get("source", type=Text)
    updates = edits(writer)
    crafted = [
        bytes([0x80, 0xC2, 0xD7, 0x2F, 0, 0, 0]),  # declares 100 million clients
        b"\x01\x01\x05\x0b\xc4\x07\x00\x07\x01\x01H\x00",  # an item after a gap
        b"\x00\x01",  # a delete set whose range has no length
    ]
    async with (
        httpx.AsyncClient(headers=auth("alice")) as alice,
        httpx.AsyncClient(headers=auth("bob")) as bob,
    ):
        async def attack() -> list[httpx.Response]:
            return [
                await bob.post(server.http("realtime/api/channels/team:crafted"),
                               content=update_message(update), headers=OCTETS)
                for update in crafted
            ]

        async def write() -> None:
            for word in ("a = 1\n", "b = 2\n"):
                text.insert(len(str(text)), word)
                await publish_all(alice, server, "team:crafted", updates)

        replies, _ = await asyncio.gather(attack(), write())
        for reply in replies:
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"]["code"] == "bad_request"
            assert reply.json()["error"]["message"].startswith("refused")
        assert decode((await alice.get(url)).json()) == "a = 1\nb = 2\n"
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == len(crafted)
    assert not any(r.exc_info for r in refusals)


async def test_loading_documents_counts_against_max_channels(server: Any) -> None:
    writer: Doc = Doc()
    updates = edits(writer)
    writer.get("source", type=Text).insert(0, "x")
    async with httpx.AsyncClient(headers=auth("alice")) as http:
        for name in ("one", "two"):  # documents with content hold their channels
            await publish_all(http, server, name, list(updates))
        first = await http.get(server.http("realtime/api/documents/one"))
        second = await http.get(server.http("realtime/api/documents/two"))
        third = await http.get(server.http("realtime/api/documents/three"))
        again = await http.get(server.http("realtime/api/documents/one"))
    assert [r.status_code for r in (first, second, again)] == [200, 200, 200]
    assert third.status_code == 429 and third.json()["error"]["code"] == "rate_limited"
