"""``SharedCell.value = new`` is a three-way edit: the change from the text last read to
``new`` is applied to the text as it is now, so what a colleague typed or deleted between the
read and the write survives. The rebase itself is tested without a server first."""

from __future__ import annotations

from typing import Any

import anyio
from pycrdt import Doc, Text

from jupyter_realtime.client import AsyncClient, Client
from jupyter_realtime.widgets import SharedCell
from jupyter_realtime.widgets._edits import apply_edits, rebase, text_edits
from jupyter_realtime.widgets._shared_doc import SharedDocument


def three_way(base: str, others: list[tuple[str, int, Any]], new: str) -> str:
    """Read ``base``, let others change it (``insert`` text / ``delete`` a count at a str
    index), then write ``new``."""
    doc: Doc = Doc()
    text = doc.get("source", type=Text)
    text += base
    deltas: list[Any] = []
    text.observe(lambda event: deltas.append(event.delta))
    for op, at, arg in others:
        if op == "insert":
            text.insert(at, arg)
        else:
            del text[at:at + arg]
    apply_edits(text, rebase(text_edits(base, new), deltas))
    return str(text)


def test_a_colleagues_insert_is_kept_and_her_deletion_not_resurrected() -> None:
    base = "alpha\nbeta\ngamma\n"
    # she inserts a line at the top and deletes "beta\n"; I rewrite gamma
    others = [("insert", 0, "# hers\n"), ("delete", 13, 5)]
    assert three_way(base, others, "alpha\nbeta\nGAMMA!\n") == "# hers\nalpha\nGAMMA!\n"


def test_her_insert_inside_the_span_i_delete_survives() -> None:
    base = "keep [drop this] keep"
    others = [("insert", 11, "NEW ")]  # inside "drop this"
    assert three_way(base, others, "keep  keep") == "keep NEW  keep"


def test_non_ascii_positions_map_by_character() -> None:
    base = "\N{GRINNING FACE} é ü\n"
    others = [("insert", 0, "\N{SNOWMAN}")]
    assert three_way(base, others, "\N{GRINNING FACE} é ü ß\n") == (
        "\N{SNOWMAN}\N{GRINNING FACE} é ü ß\n"
    )


def test_no_change_since_the_read_is_a_plain_edit() -> None:
    assert three_way("one two three", [], "one 2 three!") == "one 2 three!"


async def test_value_keeps_what_a_colleague_did_between_read_and_write(server: Any) -> None:
    """Two users at once: the kernel reads, she inserts a line and deletes another, then the
    kernel writes what it computed from its read."""

    def kernel_reads() -> tuple[SharedCell, str]:
        client = Client(server.http(), server.token)
        cell = SharedCell("race", client=client)
        cell.value = "import os\nx = 1\nprint(x)\n"
        return cell, cell.value

    async with AsyncClient(server.http(), server.token) as b:
        cell, read = await anyio.to_thread.run_sync(kernel_reads)
        try:
            her = SharedDocument(b, "race")
            await her.start()
            assert her.value == read
            her.text.insert(0, "# reviewed\n")  # her insert
            del her.text[11:21]  # her deletion: "import os\n"
            with anyio.fail_after(10):  # the kernel has her changes before it writes
                while cell._client.call(lambda: cell._document.value) != her.value:
                    await anyio.sleep(0.05)
            await anyio.to_thread.run_sync(setattr, cell, "value", read.replace("1", "2"))
            want = "# reviewed\nx = 2\nprint(x)\n"
            with anyio.fail_after(10):
                while her.value != want:
                    await anyio.sleep(0.05)
            assert await anyio.to_thread.run_sync(lambda: cell.value) == want
            await her.close()
        finally:
            await anyio.to_thread.run_sync(cell.close)
            await anyio.to_thread.run_sync(cell._client.close)
