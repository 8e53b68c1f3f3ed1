"""The mirror's batching rules, without a kernel: coalescing, cuts, markers."""

from __future__ import annotations

import base64

from jupyter_realtime.kernel._format import Batcher, Limits, cut_text, limit_bundle


def stream(text: str, cell: str = "c1", name: str = "stdout") -> tuple[str, str, str, dict]:
    return ("stream", "ch", cell, {"name": name, "text": text})


def test_stream_text_is_coalesced_into_lines_and_an_unfinished_line_waits_one_tick() -> None:
    b = Batcher()
    out = b.tick([stream("a\nb"), stream("c\nd"), stream("x", name="stderr")])
    assert out == [
        ("ch", {"type": "stream", "cell": "c1", "name": "stdout", "text": "a\nbc\n"}),
    ]  # "d" and "x" wait for the rest of their line
    assert b.tick([stream("e\n")]) == [
        ("ch", {"type": "stream", "cell": "c1", "name": "stdout", "text": "de\n"}),
        ("ch", {"type": "stream", "cell": "c1", "name": "stderr", "text": "x"}),
    ]  # stdout got its line; stderr's waited a tick: it goes as it is


def test_a_line_rewritten_with_carriage_returns_goes_out_every_other_tick() -> None:
    # tqdm writing to a file, Keras, pip: the line never ends while it runs; it used to be
    # held (and grow) until a newline came, however long that took
    b = Batcher()
    sent = []
    for i in range(9):
        sent.append("".join(m["text"] for _, m in b.tick([stream(f"\r{i * 10}%")])))
    assert sent[0] == "" and all(sent[1::2])  # held at most one tick, though news kept coming
    assert "".join(sent) == "".join(f"\r{i * 10}%" for i in range(8))
    assert b.waiting == 1  # "\r80%" waits; a tick without news sends it
    assert b.tick([]) == [("ch", {"type": "stream", "cell": "c1", "name": "stdout",
                                  "text": "\r80%"})]  # fmt: skip
    assert b.waiting == 0


def test_a_display_sends_the_text_before_it_and_cell_end_everything() -> None:
    b = Batcher()
    out = b.tick([stream("tqdm 50%"), ("display_data", "ch", "c1", {"data": {}}), stream("y")])
    assert [m["type"] for _, m in out] == ["stream", "display_data"]
    assert out[0][1]["text"] == "tqdm 50%"
    out = b.tick([("cell_end", "ch", "c1", {"status": "ok"})])
    assert [(m["type"], m.get("text")) for _, m in out] == [("stream", "y"), ("cell_end", None)]


def test_a_flood_keeps_its_head_its_last_line_and_says_what_was_cut() -> None:
    b = Batcher(Limits(stream_chars=1000))
    lines = "".join(f"line {i}\n" for i in range(100_000))
    ((_, msg),) = b.tick([stream(lines)])
    assert len(msg["text"]) < 1100
    assert msg["text"].startswith("line 0\n") and msg["text"].endswith("line 99999\n")
    kept = msg["text"].count("line ")  # the marker says "lines", not "line "
    assert kept + msg["skipped"]["lines"] == 100_000
    assert f"[... {msg['skipped']['lines']} lines" in msg["text"]
    text, skipped = cut_text("x" * 5000, 100)  # one long line: its end is kept
    assert skipped is not None and text.endswith("x" * 20) and len(text) < 200


def test_updates_coalesce_and_clear_output_drops_what_it_clears() -> None:
    b = Batcher()
    events = [
        ("display_data", "ch", "c1", {"data": {"text/plain": "old"}}),
        stream("old text\n"),
        ("clear_output", "ch", "c1", {"wait": True}),
        ("update_display_data", "ch", "c1", {"display_id": "d", "data": {"n": 1}}),
        ("clear_output", "ch", "c1", {"wait": True}),
        ("display_data", "ch", "c1", {"data": {"text/plain": "new"}}),
        ("update_display_data", "ch", "c1", {"display_id": "d", "data": {"n": 2}}),
    ]
    out = [m for _, m in b.tick(events)]
    assert [m["type"] for m in out] == ["clear_output", "display_data", "update_display_data"]
    assert out[1]["data"] == {"text/plain": "new"} and out[2]["data"] == {"n": 2}
    # a clear that waits, with nothing after it in the tick, drops nothing yet
    out = [m for _, m in b.tick(events[:3])]
    assert [m["type"] for m in out] == ["display_data", "stream", "clear_output"]


def test_displays_over_the_rate_wait_their_turn_in_order() -> None:
    b = Batcher(Limits(outputs=3))
    events = [("display_data", "ch", "c1", {"data": {"i": i}}) for i in range(10)]
    ticks = [b.tick([*events, ("cell_end", "ch", "c1", {})])]
    while b.waiting:
        ticks.append(b.tick([]))
    shown = [[m["data"]["i"] if "data" in m else m["type"] for _, m in t] for t in ticks]
    assert shown == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, "cell_end"]]


def test_a_backlog_over_its_bound_drops_its_oldest_displays_with_a_marker() -> None:
    b = Batcher(Limits(outputs=2, backlog=3))
    events = [("display_data", "ch", "c1", {"data": {"i": i}}) for i in range(10)]
    first = [m["data"]["i"] for _, m in b.tick(events)]
    rest = [m for _, m in b.tick([])] + [m for _, m in b.tick([])]
    assert first == [0, 1]
    assert rest[0] == {"type": "stream", "cell": "c1", "name": "stderr",
                       "text": "[5 outputs not mirrored: more than 3 waiting]\n"}  # fmt: skip
    assert [m["data"]["i"] for m in rest[1:]] == [7, 8, 9]


def test_a_bundle_over_the_limit_loses_its_largest_entries_with_a_marker() -> None:
    png = base64.b64encode(b"\x89PNG" + bytes(300_000)).decode()
    data = {"image/png": png, "text/plain": "<Figure size 640x480>"}
    kept, removed = limit_bundle(data, 100_000)
    assert removed == {"image/png": len(png)}
    assert kept == {
        "text/plain": "<Figure size 640x480>\n[not mirrored: image/png (390.6 KiB); "
        "larger than the 97.7 KiB limit]"
    }
    assert limit_bundle(data, 1 << 20) == (data, {})
    kept, removed = limit_bundle({"text/plain": "x" * 5000}, 1000)  # text alone is cut
    assert removed == {} and len(kept["text/plain"]) < 1200


def test_an_in_place_loop_of_clear_and_print_leaves_one_clear_and_the_last_text() -> None:
    b = Batcher()
    events: list[tuple[str, str, str, dict]] = []
    for i in range(50_000):  # clear_output(wait=True); print(i): linear, not quadratic
        events += [("clear_output", "ch", "c1", {"wait": True}), stream(f"{i}\n")]
    out = [m for _, m in b.tick(events)]
    assert out == [
        {"type": "clear_output", "cell": "c1", "wait": True},
        {"type": "stream", "cell": "c1", "name": "stdout", "text": "49999\n"},
    ]
    events = [
        stream("a\n"),
        ("clear_output", "ch", "c1", {"wait": False}),
        ("display_data", "ch", "c1", {"data": {"x": 1}}),
        ("clear_output", "ch", "c1", {"wait": False}),
        stream("b\n"),
    ]
    out = [m for _, m in b.tick(events)]
    assert [(m["type"], m.get("text")) for m in out] == [("clear_output", None), ("stream", "b\n")]
