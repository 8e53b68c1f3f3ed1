"""With the default settings (the SQLite store, the default retention), a mirrored run of
5,000 publications is kept whole: read back page by page from its first line, nothing
trimmed (``recovered`` stays true from the channel's start), in order."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from test_dropped_cells import mirrored_run

from jupyter_realtime.client import AsyncClient

pytestmark = pytest.mark.timeout(180)


async def test_a_5000_publication_run_is_read_back_whole_from_its_first_line(
    server: Any,
) -> None:
    channel = "whole-run"
    async with AsyncClient(server.http(), server.token) as client:
        await mirrored_run(client, channel, 5000)
    url = server.http("realtime/api/channels", channel, "history")
    seen: list[Any] = []
    async with httpx.AsyncClient(headers=server.headers, timeout=30) as http:
        newest = (await http.get(url, params={"limit": 1})).json()
        epoch, since = newest["epoch"], 0
        for _ in range(20):  # 1,000 a page
            page = (
                await http.get(url, params={"since": since, "epoch": epoch, "limit": 1000})
            ).json()
            assert page["recovered"] is True, "history no longer reaches the run's start"
            if not page["publications"]:
                break
            seen.extend(page["publications"])
            since = page["publications"][-1]["offset"]
    assert [p["offset"] for p in seen] == list(range(1, newest["offset"] + 1))
    first = seen[0]["data"]
    assert (first["type"], first["execution_count"], first["code"]) == ("cell_start", 1, "x = 1")
    lines = [p["data"]["text"] for p in seen if p["data"].get("type") == "stream"]
    assert lines == [f"{i}\n" for i in range(5000)]
